//! mailsift-core: the pure classification core of the mailsift gateway.
//!
//! Raw message bytes + the SMTP [`Envelope`] + compiled [`Rules`] (+
//! sender authentication results as plain data) in, a [`Verdict`] out. No
//! I/O, no async runtime, no DNS: the edges (AMQP, SMTP, replay) call in.
//!
//! Layers, bottom up (a module uses only those above it in this list):
//!
//! - data: [`finding`] (dispositions, findings, rule ids), [`envelope`],
//!   [`authres`] (authentication results), [`model`] (a trained
//!   classifier's weights and file format);
//! - helpers: [`text`], [`fold`] (the form lists are matched in),
//!   [`domain`], [`url`], [`html`], [`ipset`], [`message`] (the only
//!   `mail-parser` user), [`author`] (the sender as a client shows it),
//!   [`journal`], [`relay`] (origin IP);
//! - [`rules`]: rule and policy files, loaded and compiled once;
//! - [`content`] (text and links, extracted once), [`inspect`] (what
//!   attachments hold: PDFs, QR codes, archives, HTML pages) and
//!   [`checks`] (one module per analysis; findings only), [`features`]
//!   (what the learned [`model`] weighs);
//! - [`verdict`] and [`decide`] (the one decision pass), [`stamp`];
//! - [`parsed`] (the one parse), [`prepared`] (facts under an envelope,
//!   classification) and [`engine`] (the front door).
//!
//! ```
//! use mailsift_core::{Disposition, Engine, Envelope, Rules};
//!
//! let engine = Engine::load(&Rules::default_dir()).expect("shipped rules");
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
//! let stamped = mailsift_core::stamp::stamp(raw, &verdict, &engine.rules().engine.stamp);
//! assert!(stamped.starts_with(b"X-Mailsift-Disposition: SPAM\r\n"));
//! assert!(stamped.ends_with(raw));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod author;
pub mod authres;
pub mod checks;
pub mod content;
pub mod decide;
pub mod domain;
pub mod engine;
pub mod envelope;
pub mod features;
pub mod finding;
pub mod fold;
pub mod html;
pub mod inspect;
pub mod ipset;
pub mod journal;
pub mod message;
pub mod model;
pub mod parsed;
pub mod prepared;
pub mod relay;
pub mod rules;
pub mod stamp;
pub mod text;
pub mod url;
pub mod verdict;

pub use authres::{AuthResults, AuthSubject};
pub use engine::Engine;
pub use envelope::{Direction, Envelope};
pub use finding::{Disposition, Finding, Rule};
pub use model::{Model, ModelError};
pub use parsed::Parsed;
pub use prepared::Prepared;
pub use rules::{DomainPolicy, Rules, RulesError};
pub use verdict::{Route, Verdict};
