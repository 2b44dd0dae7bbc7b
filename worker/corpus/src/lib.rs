//! mailsift-corpus: what an analyst replays and how it is summarised.
//!
//! - [`sources`]: directories of messages (any file name), mbox files and
//!   maildirs, read lazily one message at a time, skipped files reported;
//! - [`labels`]: `labels.csv`, what each message is expected to be;
//! - [`golden`]: the recorded verdicts of the project corpus, and [`add`]
//!   to bring a misclassified message into it;
//! - [`report`]: per-message records and the run summary (dispositions,
//!   routes, rule hits, the confusion matrix against labels).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod add;
pub mod compare;
pub mod golden;
pub mod html;
pub mod labels;
pub mod report;
pub mod sources;

pub use html::HtmlReport;
pub use labels::{Label, Labels, LabelsError};
pub use report::{Record, Summary};
pub use sources::{messages, Item, Skipped};
