//! mailsift-quarantine: the quarantine console.
//!
//! Held mail must not vanish into a queue. This edge consumes a region's
//! quarantine queue into PostgreSQL and lets each domain's administrators
//! review, preview, download and release it:
//!
//! - [`schema`]: numbered migrations, applied at start under a lock;
//! - [`record`]: what is kept of one worker output ([`Held`]);
//! - [`store`]: every query (messages, tokens, audit, retention);
//! - [`token`]: bearer tokens scoped to domains (only hashes stored);
//! - [`ingest`]: the consumer (ack only after the row is committed);
//! - [`release`]: the released message, published with confirms;
//! - [`app`]: the console's state and its actions (release, delete,
//!   download: each audited), shared by [`api`] (JSON under `/api/v1`) and
//!   [`page`] (the web page), behind one authorisation ([`auth`]);
//! - [`preview`]: headers and text of a message, inert (no HTML rendered);
//! - [`retention`]: purging past each domain's retention, in small batches.
//!
//! The verdicts come from the worker; the console never reclassifies mail
//! for routing. See README, "Quarantine console".
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod auth;
pub mod ingest;
pub mod page;
pub mod preview;
pub mod record;
pub mod release;
pub mod retention;
pub mod schema;
pub mod store;
pub mod token;

pub use record::Held;
pub use store::{Filter, Store};

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query failed.
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// No connection could be taken from the pool.
    #[error("PostgreSQL connection pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The database URL does not parse.
    #[error("--database-url: {0} (expected e.g. postgres://user@127.0.0.1:5432/mailsift)")]
    Url(String),
    /// A newer console migrated this database.
    #[error(
        "the database schema is version {database}, newer than this console knows ({known}): \
         run the newer mailsift, or restore a matching backup"
    )]
    SchemaTooNew {
        /// The database's version.
        database: i32,
        /// The newest version this build knows.
        known: i32,
    },
    /// A migration failed (its transaction was rolled back).
    #[error("schema migration {version} failed: {error}")]
    Migration {
        /// Which one.
        version: i32,
        /// What PostgreSQL said.
        error: String,
    },
    /// A filter value is not usable (reported to the caller as 400).
    #[error("{0}")]
    BadFilter(String),
    /// A filter names a domain the token may not see (403).
    #[error("{0}")]
    OutOfScope(String),
}
