//! The AMQP edge: the `mailsift worker` pool and `mailsift enqueue`.
//!
//! I/O only; every verdict comes from [`crate::engine`]. See README,
//! "AMQP worker" for the message contract and the topology.

pub mod contract;
pub mod enqueue;
pub mod topology;
pub mod worker;

pub use topology::Topology;
pub use worker::{Mode, Stats, Worker, WorkerConfig};
