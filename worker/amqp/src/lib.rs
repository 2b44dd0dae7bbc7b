//! mailsift-amqp: the RabbitMQ edge.
//!
//! - [`contract`]: which AMQP headers carry the envelope in and the verdict
//!   out (an API: the SMTP edges and delivery depend on it);
//! - [`topology`]: queues and exchanges, declared at every (re)connect and
//!   exported as a RabbitMQ definitions file;
//! - [`publisher`]: publishing with confirms, shared by every edge;
//!   [`input`] publishes inputs as an SMTP edge does;
//! - [`session`]: the consume loop every consumer runs on (prefetch,
//!   settle after the handler, drain on shutdown, reconnect);
//! - [`worker`] (with [`outputs`]): the classification handler;
//!   [`relay`]: the bare relay for benchmarks; [`enqueue`]: stored mail in.
//!
//! I/O only: every verdict comes from `mailsift-core`. See README, "AMQP
//! worker", for the message contract and the topology.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod contract;
pub mod enqueue;
pub mod input;
pub mod outputs;
pub mod publisher;
pub mod relay;
pub mod session;
pub mod topology;
pub mod worker;

pub use publisher::{Output, PublishError, Publisher};
pub use session::{redact, Consumer, Handler, SessionConfig, Settle, Stats};
pub use topology::Topology;
pub use worker::{SharedEngine, Worker, WorkerConfig, WorkerError};
