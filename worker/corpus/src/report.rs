//! Replay reports: per-message records and the run summary with a
//! confusion matrix and per-class precision and recall.

use crate::labels::Label;
use mailsift_core::{AuthResults, Disposition, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;

/// One JSON line per message in `--out`.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    /// Message name (path or `mbox#N`).
    pub path: &'a str,
    /// Message-ID.
    pub message_id: Option<&'a str>,
    /// The disposition, or null on error.
    pub disposition: Option<Disposition>,
    /// The route.
    pub route: Option<&'static str>,
    /// The winning score.
    pub score: Option<f64>,
    /// Every non-zero per-disposition score.
    pub scores: Option<&'a BTreeMap<Disposition, f64>>,
    /// Rule ids with weight.
    pub rules: Vec<&'a str>,
    /// Expected label, when labels were given.
    pub label: Option<String>,
    /// Per-message error.
    pub error: Option<&'a str>,
    /// Why the verdict is incomplete (DNS failure in authentication).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<&'a str>,
    /// Sender authentication results, when authentication ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<&'a AuthResults>,
}

impl<'a> Record<'a> {
    /// The line for a classified message.
    pub fn classified(path: &'a str, verdict: &'a Verdict, label: Option<Label>) -> Record<'a> {
        Record {
            path,
            message_id: verdict.message_id.as_deref(),
            disposition: Some(verdict.disposition),
            route: Some(verdict.route.as_str()),
            score: Some(verdict.score),
            scores: Some(&verdict.scores),
            rules: verdict.reasons(),
            label: label.map(|l| l.name()),
            error: verdict.error.as_deref(),
            incomplete: verdict.incomplete.as_deref(),
            auth: verdict.auth.as_ref(),
        }
    }

    /// The line for a message that could not be read.
    pub fn unreadable(path: &'a str, error: &'a str, label: Option<Label>) -> Record<'a> {
        Record {
            path,
            message_id: None,
            disposition: None,
            route: None,
            score: None,
            scores: None,
            rules: Vec::new(),
            label: label.map(|l| l.name()),
            error: Some(error),
            incomplete: None,
            auth: None,
        }
    }
}

/// Per-class precision and recall.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassStats {
    /// Labelled messages of this class.
    pub support: u64,
    /// Of those, how many got an accepted disposition.
    pub correct: u64,
    /// correct / support.
    pub recall: f64,
    /// Of the messages predicted as this class, the share labelled it.
    pub precision: f64,
}

/// The run summary (`--format json` prints it as one object).
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Messages processed (including errors).
    pub messages: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// messages / seconds.
    pub messages_per_second: f64,
    /// Threads used.
    pub threads: usize,
    /// Disposition → count.
    pub dispositions: BTreeMap<String, u64>,
    /// Route → count.
    pub routes: BTreeMap<String, u64>,
    /// Rule id → hits (weighted findings only).
    pub rules: BTreeMap<String, u64>,
    /// Messages that could not be read or classified normally.
    pub errors: u64,
    /// How sender authentication ran (`off`, recorded DNS from a file, live DNS).
    pub authentication: String,
    /// Verdicts marked incomplete (a DNS failure in authentication).
    pub incomplete: u64,
    /// Up to 50 `(name, error)` pairs.
    pub error_samples: Vec<(String, String)>,
    /// Files in the replayed directories that were not read as messages.
    pub skipped: u64,
    /// Up to 50 `(path, why)` pairs of them.
    pub skipped_samples: Vec<(String, String)>,
    /// With `--compare-rules`: what the other rules change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<crate::compare::Comparison>,
    /// Label → disposition → count (only with labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confusion: Option<BTreeMap<String, BTreeMap<String, u64>>>,
    /// Per label class (only with labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<BTreeMap<String, ClassStats>>,
    /// Labelled messages whose disposition the label accepts / labelled messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Messages without a label (with labels given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlabelled: Option<u64>,
    /// Ham (labelled ham, NONE or BULK) that came out MALICIOUS or SPAM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ham_quarantine_false_positives: Option<u64>,
    #[serde(skip)]
    /// (label, disposition) → messages: counts, so memory stays flat
    /// however long the replay.
    counts: BTreeMap<(Label, Disposition), u64>,
    #[serde(skip)]
    with_labels: bool,
}

impl Summary {
    /// An empty summary; `with_labels` enables the label statistics.
    pub fn new(with_labels: bool) -> Summary {
        Summary {
            with_labels,
            ..Summary::default()
        }
    }

    /// Adds a verdict.
    pub fn add(&mut self, name: &str, verdict: &Verdict, label: Option<Label>) {
        self.messages += 1;
        if verdict.incomplete.is_some() {
            self.incomplete += 1;
        }
        *self
            .dispositions
            .entry(verdict.disposition.as_str().to_string())
            .or_default() += 1;
        *self
            .routes
            .entry(verdict.route.as_str().to_string())
            .or_default() += 1;
        for id in verdict.reasons() {
            *self.rules.entry(id.to_string()).or_default() += 1;
        }
        if let Some(e) = &verdict.error {
            self.add_error_sample(name, e);
        }
        if self.with_labels {
            match label {
                Some(l) => *self.counts.entry((l, verdict.disposition)).or_default() += 1,
                None => *self.unlabelled.get_or_insert(0) += 1,
            }
        }
    }

    /// Adds a message that could not be read.
    pub fn add_error(&mut self, name: &str, error: &str) {
        self.messages += 1;
        self.add_error_sample(name, error);
    }

    fn add_error_sample(&mut self, name: &str, error: &str) {
        self.errors += 1;
        if self.error_samples.len() < 50 {
            self.error_samples
                .push((name.to_string(), error.to_string()));
        }
    }

    /// Records the files a directory walk passed over (see
    /// [`crate::Skipped`]): counted, and the first 50 kept with why.
    pub fn add_skipped(&mut self, skipped: Vec<(String, String)>) {
        self.skipped += skipped.len() as u64;
        let room = 50usize.saturating_sub(self.skipped_samples.len());
        self.skipped_samples.extend(skipped.into_iter().take(room));
    }

    /// Fills timing and label statistics.
    pub fn finish(&mut self, seconds: f64, threads: usize) {
        self.seconds = seconds;
        self.threads = threads;
        self.messages_per_second = if seconds > 0.0 {
            self.messages as f64 / seconds
        } else {
            0.0
        };
        if !self.with_labels {
            return;
        }
        let mut confusion: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut classes: BTreeMap<String, ClassStats> = BTreeMap::new();
        let mut correct_total = 0;
        let mut ham_fp = 0;
        let mut has_ham = false;
        let mut labelled = 0;
        for (&(label, d), &n) in &self.counts {
            labelled += n;
            *confusion
                .entry(label.name())
                .or_default()
                .entry(d.as_str().to_string())
                .or_default() += n;
            let ok = label.accepts(d);
            correct_total += ok as u64 * n;
            let stats = classes.entry(label.name()).or_insert(ClassStats {
                support: 0,
                correct: 0,
                recall: 0.0,
                precision: 0.0,
            });
            stats.support += n;
            stats.correct += ok as u64 * n;
            let is_ham = matches!(
                label,
                Label::Ham | Label::Exact(Disposition::None | Disposition::Bulk)
            );
            has_ham |= is_ham;
            if is_ham && matches!(d, Disposition::Malicious | Disposition::Spam) {
                ham_fp += n;
            }
        }
        for (name, stats) in classes.iter_mut() {
            stats.recall = ratio(stats.correct, stats.support);
            let label = Label::parse(name);
            let predicted = self
                .counts
                .iter()
                .filter(|((l, d), _)| match label {
                    Some(Label::Exact(c)) => *d == c,
                    Some(Label::Spam) => {
                        Label::Spam.accepts(*d) && matches!(l, Label::Spam | Label::Ham)
                    }
                    Some(Label::Ham) => {
                        Label::Ham.accepts(*d) && matches!(l, Label::Spam | Label::Ham)
                    }
                    None => false,
                })
                .map(|(_, n)| n)
                .sum::<u64>();
            stats.precision = ratio(stats.correct, predicted);
        }
        self.accuracy = Some(ratio(correct_total, labelled));
        self.confusion = Some(confusion);
        self.classes = Some(classes);
        self.ham_quarantine_false_positives = has_ham.then_some(ham_fp);
        self.unlabelled.get_or_insert(0);
    }

    /// Merges another partial summary (parallel replay).
    pub fn merge(&mut self, other: Summary) {
        if let Some(c) = other.comparison {
            match &mut self.comparison {
                Some(mine) => mine.merge(c),
                None => self.comparison = Some(c),
            }
        }
        self.messages += other.messages;
        for (k, v) in other.dispositions {
            *self.dispositions.entry(k).or_default() += v;
        }
        for (k, v) in other.routes {
            *self.routes.entry(k).or_default() += v;
        }
        for (k, v) in other.rules {
            *self.rules.entry(k).or_default() += v;
        }
        self.errors += other.errors;
        self.incomplete += other.incomplete;
        for s in other.error_samples {
            if self.error_samples.len() < 50 {
                self.error_samples.push(s);
            }
        }
        if let Some(u) = other.unlabelled {
            *self.unlabelled.get_or_insert(0) += u;
        }
        for (k, n) in other.counts {
            *self.counts.entry(k).or_default() += n;
        }
    }

    /// Human-readable report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} messages in {:.2} s ({:.0} messages/s, {} threads), {} errors",
            self.messages, self.seconds, self.messages_per_second, self.threads, self.errors
        );
        let _ = writeln!(
            s,
            "sender authentication: {}{}",
            if self.authentication.is_empty() {
                "off"
            } else {
                &self.authentication
            },
            if self.incomplete > 0 {
                format!(
                    " ({} verdicts incomplete after DNS failures)",
                    self.incomplete
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(s, "\ndispositions:");
        for d in Disposition::ALL {
            let n = self.dispositions.get(d.as_str()).copied().unwrap_or(0);
            let _ = writeln!(s, "  {:<11} {n:>8}", d.as_str());
        }
        let _ = writeln!(s, "\nroutes:");
        for (r, n) in &self.routes {
            let _ = writeln!(s, "  {r:<11} {n:>8}");
        }
        let mut rules: Vec<(&String, &u64)> = self.rules.iter().collect();
        rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let _ = writeln!(s, "\nrule hits:");
        for (r, n) in rules {
            let _ = writeln!(s, "  {r:<40} {n:>8}");
        }
        if let (Some(confusion), Some(classes)) = (&self.confusion, &self.classes) {
            let _ = writeln!(s, "\nconfusion (label × disposition):");
            let _ = write!(s, "  {:<11}", "");
            for d in Disposition::ALL {
                let _ = write!(s, " {:>10}", d.as_str());
            }
            let _ = writeln!(s, " {:>8} {:>9}", "recall", "precision");
            for (label, row) in confusion {
                let _ = write!(s, "  {label:<11}");
                for d in Disposition::ALL {
                    let _ = write!(s, " {:>10}", row.get(d.as_str()).copied().unwrap_or(0));
                }
                let c = &classes[label];
                let _ = writeln!(
                    s,
                    " {:>7.1}% {:>8.1}%",
                    c.recall * 100.0,
                    c.precision * 100.0
                );
            }
            if let Some(a) = self.accuracy {
                let _ = writeln!(
                    s,
                    "\naccuracy: {:.1}% of {} labelled",
                    a * 100.0,
                    self.counts.values().sum::<u64>()
                );
            }
            if let Some(fp) = self.ham_quarantine_false_positives {
                let _ = writeln!(s, "ham quarantined as MALICIOUS or SPAM: {fp}");
            }
            if let Some(u) = self.unlabelled.filter(|u| *u > 0) {
                let _ = writeln!(s, "unlabelled messages: {u}");
            }
        }
        if !self.error_samples.is_empty() {
            let _ = writeln!(s, "\nerrors:");
            for (name, e) in &self.error_samples {
                let _ = writeln!(s, "  {name}: {e}");
            }
        }
        if let Some(c) = &self.comparison {
            s.push_str(&c.to_text());
        }
        if self.skipped > 0 {
            // The first few; `--format json` has the first 50.
            let _ = writeln!(s, "\nskipped {} files that are not messages:", self.skipped);
            for (name, why) in self.skipped_samples.iter().take(10) {
                let _ = writeln!(s, "  {name}: {why}");
            }
            let shown = self.skipped_samples.len().min(10) as u64;
            if self.skipped > shown {
                let _ = writeln!(s, "  ... and {} more", self.skipped - shown);
            }
        }
        s
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
