//! The one parse of a message: its bytes, owned, with mail-parser's view of
//! them. Authentication and classification share it, so a message is parsed
//! once on every path (worker, check, replay), and it can wait on another
//! thread while DNS answers.

use crate::envelope::Envelope;
use crate::finding::Rule;
use crate::journal;
use crate::message::{without_mbox_line, ParsedMessage};
use crate::rules::Rules;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The message of a caught panic.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The input bytes and, for a journal report, the original it carries.
struct Owner {
    input: Vec<u8>,
    original: Option<Vec<u8>>,
}

impl Owner {
    /// What is parsed: the original of a journal report, else the input;
    /// either without an mbox `From ` line.
    fn message(&self) -> &[u8] {
        without_mbox_line(self.original.as_deref().unwrap_or(&self.input))
    }
}

/// The parse, or why there is none to scan.
type MaybeMessage<'a> = Result<ParsedMessage<'a>, Problem>;

self_cell::self_cell!(
    struct Cell {
        owner: Owner,
        #[covariant]
        dependent: MaybeMessage,
    }
);

/// The problem a caught panic makes.
fn internal_error(panic: &(dyn std::any::Any + Send)) -> Problem {
    Problem {
        rule: crate::engine::ENGINE_INTERNAL_ERROR,
        why: format!("internal error while classifying: {}", panic_text(panic)),
    }
}

/// An Exchange journal report that was unwrapped.
#[derive(Clone, Debug)]
pub(crate) struct Journal {
    /// The envelope the report describes.
    pub envelope: Envelope,
    /// `INFO_JOURNAL_UNWRAPPED` evidence.
    pub evidence: String,
}

/// Why a message cannot be scanned.
#[derive(Clone, Debug)]
pub(crate) struct Problem {
    /// The rule reported for it.
    pub rule: Rule,
    /// What is wrong, for the finding and the verdict's `error`.
    pub why: String,
}

/// A message as received, parsed once. Cheap to share (`Arc<Parsed>`):
/// one input split between several recipient domains is parsed once.
pub struct Parsed {
    cell: Cell,
    pub(crate) journal: Option<Journal>,
}

impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parsed")
            .field("bytes", &self.raw().len())
            .field("journal", &self.journal.is_some())
            .field("problem", &self.problem())
            .finish()
    }
}

impl Parsed {
    /// Parses `input` under the size limit of `rules`. Unwraps one level of
    /// Exchange journal report. Never fails: what cannot be scanned says
    /// why, and the decision pass quarantines it.
    pub(crate) fn new(input: Vec<u8>, rules: &Rules) -> Parsed {
        let max = rules.engine.limits.max_message_bytes;
        let cell = Self::cell(
            Owner {
                input,
                original: None,
            },
            max,
        );
        let report = cell.with_dependent(|_, parsed| {
            let msg = parsed.as_ref().ok().filter(|m| journal::is_report(m))?;
            Some(
                catch_unwind(AssertUnwindSafe(|| Self::unwrap_journal(msg)))
                    .unwrap_or_else(|panic| Err(internal_error(&*panic))),
            )
        });
        match report {
            // Not a journal report: the one parse is the message's.
            None => Parsed {
                cell,
                journal: None,
            },
            Some(Err(problem)) => Parsed {
                cell: Self::cell_with_problem(cell.into_owner(), problem),
                journal: None,
            },
            // The original is parsed once more: it is another message.
            Some(Ok((journal, original))) => {
                let mut owner = cell.into_owner();
                owner.original = Some(original);
                Parsed {
                    cell: Self::cell(owner, max),
                    journal: Some(journal),
                }
            }
        }
    }

    fn cell(owner: Owner, max: usize) -> Cell {
        Cell::new(owner, |owner| Self::open(owner.message(), max))
    }

    fn cell_with_problem(owner: Owner, problem: Problem) -> Cell {
        Cell::new(owner, |_| Err(problem))
    }

    /// The envelope an Exchange journal report describes and the original
    /// it carries.
    fn unwrap_journal(msg: &ParsedMessage<'_>) -> Result<(Journal, Vec<u8>), Problem> {
        let report = journal::unwrap(msg).map_err(|e| Problem {
            rule: crate::engine::JOURNAL_MALFORMED,
            why: e.to_string(),
        })?;
        let journal = Journal {
            evidence: format!(
                "journal report from {}; original sender {}, recipients {}",
                msg.from()
                    .first()
                    .and_then(|m| m.address.clone())
                    .unwrap_or_default(),
                report.envelope.mail_from.as_deref().unwrap_or("?"),
                report.envelope.rcpt_to.join(", ")
            ),
            envelope: report.envelope,
        };
        Ok((journal, report.original))
    }

    /// Parses one message under the size limit.
    fn open(raw: &[u8], max: usize) -> Result<ParsedMessage<'_>, Problem> {
        if raw.len() > max {
            return Err(Problem {
                rule: crate::engine::MSG_TOO_LARGE,
                why: format!(
                    "{} bytes is over limits.max_message_bytes = {max}",
                    raw.len()
                ),
            });
        }
        // mail-parser reads hostile bytes: a bug there costs this message
        // a verdict of its own, never the caller.
        match catch_unwind(AssertUnwindSafe(|| ParsedMessage::parse(raw))) {
            Ok(parsed) => parsed.map_err(|e| Problem {
                rule: crate::engine::MSG_NOT_EMAIL,
                why: e.to_string(),
            }),
            Err(panic) => Err(internal_error(&*panic)),
        }
    }

    /// The bytes as received (a journal report itself, an mbox `From `
    /// line included): what gets stamped and forwarded.
    pub fn raw(&self) -> &[u8] {
        &self.cell.borrow_owner().input
    }

    /// The message the checks judge (the original of a journal report),
    /// or `None` when it cannot be scanned.
    pub fn message(&self) -> Option<&ParsedMessage<'_>> {
        self.cell.borrow_dependent().as_ref().ok()
    }

    /// Why the message cannot be scanned, if it cannot.
    pub(crate) fn problem(&self) -> Option<&Problem> {
        self.cell.borrow_dependent().as_ref().err()
    }

    /// Why the message cannot be scanned, if it cannot.
    pub fn error(&self) -> Option<&str> {
        self.problem().map(|p| p.why.as_str())
    }

    /// True when the input was an Exchange journal report (whether or not
    /// it could be unwrapped).
    pub fn is_journal(&self) -> bool {
        self.journal.is_some()
            || self
                .problem()
                .is_some_and(|p| p.rule.id == crate::engine::JOURNAL_MALFORMED.id)
    }
}
