//! mailsift-ops: running mailsift in production.
//!
//! - [`http`]: `/healthz`, `/readyz` and `/metrics` for every long-running
//!   subcommand;
//! - [`reload`]: hot reload of rules and policy (SIGHUP, a change in the
//!   rules directory, a periodic poll), validated first, swapped whole.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod http;
pub mod reload;

pub use http::HttpServer;
pub use reload::{Reload, Reloader};
