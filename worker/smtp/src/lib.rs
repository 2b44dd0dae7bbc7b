//! mailsift-smtp: the SMTP sides of the gateway.
//!
//! - [`edge`] (with [`session`] and [`acceptance`]): `mailsift edge`, the
//!   inbound SMTP server that puts mail on the input queue, answering `250`
//!   only after the broker confirmed it;
//! - [`deliver`] (with [`client`], [`dsn`] and [`recent`]): `mailsift
//!   deliver`, which takes delivered mail off the delivery queues to the
//!   customer's mail server;
//! - [`tls`] and [`reply`]: what both sides share.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acceptance;
pub mod client;
pub mod deliver;
pub mod dsn;
pub mod edge;
pub mod recent;
pub mod reply;
mod session;
pub mod tls;

pub use client::{NextHop, Relay};
pub use deliver::{DeliverConfig, Deliverer, OnPermanentFailure};
pub use edge::{Edge, EdgeConfig, Limits, ListenerSpec};
pub use reply::Reply;
