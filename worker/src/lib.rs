//! mailsift: an email security classifier.
//!
//! The crate is split the way the data flows:
//!
//! - [`engine`] is the pure, synchronous core: raw message bytes + [`Envelope`]
//!   + compiled [`Rules`] in, [`Verdict`] out. It does no I/O.
//! - [`message`] is the only module that talks to `mail-parser`; every check
//!   sees our [`message::ParsedMessage`] view.
//! - [`checks`] holds one module per analysis (headers, relay hops, spoof,
//!   content, URLs, attachments, bulk). Each returns [`Finding`]s with
//!   evidence and never decides a disposition on its own.
//! - [`verdict`] is the single scoring pass: findings → per-disposition scores
//!   → one [`Disposition`] and a [`Route`] from the recipient domain's policy.
//! - [`stamp`] prepends our headers to the untouched raw bytes.
//! - [`rules`] loads and compiles the rule and policy files once; a compiled
//!   [`Rules`] is immutable and swapped whole.
//! - [`corpus`] and [`report`] are the replay edge: reading .eml / mbox /
//!   maildir sources and summarising verdicts against labels.
//!
//! ```
//! use mailsift::{Engine, Envelope, Rules, Disposition};
//! use std::sync::Arc;
//!
//! let rules = Rules::load(&Rules::default_dir()).expect("shipped rules");
//! let engine = Engine::new(Arc::new(rules));
//! let raw = b"From: deals@pills.example\r\nTo: bob@contoso.com\r\nSubject: hi\r\n\r\n\
//!             Cheap viagra and cialis, online pharmacy, no prescription! Act now, 100% free.\r\n";
//! let envelope = Envelope {
//!     peer_ip: Some("64.0.0.10".parse().unwrap()),
//!     mail_from: Some("deals@pills.example".into()),
//!     rcpt_to: vec!["bob@contoso.com".into()],
//!     ..Envelope::default()
//! };
//! let verdict = engine.classify(raw, Some(&envelope));
//! assert_eq!(verdict.disposition, Disposition::Spam);
//! let stamped = mailsift::stamp::stamp(raw, &verdict, &engine.rules().engine.stamp);
//! assert!(stamped.starts_with(b"X-Mailsift-Disposition: SPAM\r\n"));
//! assert!(stamped.ends_with(raw));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod amqp;
pub mod auth;
pub mod checks;
pub mod corpus;
pub mod engine;
pub mod envelope;
pub mod finding;
pub mod html;
pub mod ipset;
pub mod journal;
pub mod message;
pub mod relay;
pub mod report;
pub mod rules;
pub mod stamp;
pub mod url;
pub mod verdict;

pub use engine::Engine;
pub use envelope::Envelope;
pub use finding::{Disposition, Finding};
pub use rules::{DomainPolicy, Rules, RulesError};
pub use verdict::{Route, Verdict};
