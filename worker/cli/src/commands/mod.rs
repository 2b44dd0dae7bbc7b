//! One module per subcommand.

pub mod bench_amqp;
pub mod bench_quarantine;
pub mod check;
pub mod corpus;
pub mod deliver;
pub mod edge;
pub mod enqueue;
pub mod quarantine;
pub mod replay;
pub mod rules;
pub mod topology;
pub mod train;
pub mod tune;
pub mod worker;
