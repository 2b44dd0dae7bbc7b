//! `replay --report FILE.html`: one self-contained page an analyst opens
//! in a browser (no network: styles inline, charts as inline SVG).
//!
//! It shows disposition and route counts, the confusion matrix as a heat
//! map whose cells link to the messages in them, score histograms per
//! label, the top rules by hits and by precision, the model's calibration,
//! per-domain counts and the slowest messages. Memory stays bounded however
//! long the replay: counts, histogram bins, and at most
//! [`MESSAGES_PER_CELL`] names per cell and [`SLOWEST`] slow messages.

use crate::labels::Label;
use mailsift_core::{Disposition, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Messages listed per confusion-matrix cell.
pub const MESSAGES_PER_CELL: usize = 200;
/// Slowest messages listed.
pub const SLOWEST: usize = 25;
/// Score histogram: bins of one point from 0, the last one open.
const SCORE_BINS: usize = 21;
/// Calibration bins of the model's probability.
const CALIBRATION_BINS: usize = 10;
/// Domains listed.
const DOMAINS: usize = 50;

/// One listed message.
#[derive(Clone, Debug)]
struct Listed {
    name: String,
    score: f64,
    rules: String,
}

/// Hits of one rule, and on which labels.
#[derive(Clone, Debug, Default)]
struct RuleHits {
    hits: u64,
    on_spam: u64,
    on_ham: u64,
}

/// What the page is drawn from, gathered message by message.
#[derive(Debug, Default)]
pub struct HtmlReport {
    messages: u64,
    errors: u64,
    dispositions: BTreeMap<Disposition, u64>,
    routes: BTreeMap<&'static str, u64>,
    /// (label or `unlabelled`, disposition) → count and the first names.
    cells: BTreeMap<(String, Disposition), (u64, Vec<Listed>)>,
    /// Label → score bins.
    histograms: BTreeMap<String, [u64; SCORE_BINS]>,
    rules: BTreeMap<String, RuleHits>,
    /// Per bin of the model's probability: (messages, spam-labelled, sum of p).
    calibration: [(u64, u64, f64); CALIBRATION_BINS],
    domains: BTreeMap<String, BTreeMap<Disposition, u64>>,
    /// (microseconds, name, disposition), slowest first.
    slowest: Vec<(u64, String, Disposition)>,
}

/// The model's probability as the `model` check wrote it in its evidence
/// (`p(spam) = 0.973 ...`), if the message was scored by a model.
pub fn model_probability(verdict: &Verdict) -> Option<f64> {
    verdict
        .findings
        .iter()
        .filter(|f| f.rule.starts_with("MODEL_"))
        .find_map(|f| f.evidence.strip_prefix("p(spam) = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
}

impl HtmlReport {
    /// An empty report.
    pub fn new() -> HtmlReport {
        HtmlReport::default()
    }

    /// Adds a classified message that took `micros` to classify.
    pub fn add(&mut self, name: &str, verdict: &Verdict, label: Option<Label>, micros: u64) {
        self.messages += 1;
        let d = verdict.disposition;
        *self.dispositions.entry(d).or_default() += 1;
        *self.routes.entry(verdict.route.as_str()).or_default() += 1;
        let label_name = label.map_or_else(|| "unlabelled".to_string(), |l| l.name());
        let rules: Vec<&str> = verdict.reasons();
        let cell = self.cells.entry((label_name.clone(), d)).or_default();
        cell.0 += 1;
        if cell.1.len() < MESSAGES_PER_CELL {
            cell.1.push(Listed {
                name: name.to_string(),
                score: verdict.score,
                rules: rules.join(" "),
            });
        }
        let bin = (verdict.score.max(0.0) as usize).min(SCORE_BINS - 1);
        self.histograms.entry(label_name).or_insert([0; SCORE_BINS])[bin] += 1;
        let spam = label.map(|l| l.is_spam());
        for rule in &rules {
            let hits = self.rules.entry((*rule).to_string()).or_default();
            hits.hits += 1;
            match spam {
                Some(true) => hits.on_spam += 1,
                Some(false) => hits.on_ham += 1,
                None => {}
            }
        }
        if let (Some(p), Some(spam)) = (model_probability(verdict), spam) {
            let bin = ((p * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
            let slot = &mut self.calibration[bin];
            slot.0 += 1;
            slot.1 += u64::from(spam);
            slot.2 += p;
        }
        let domain = verdict
            .envelope
            .rcpt_to
            .first()
            .and_then(|r| r.rsplit_once('@'))
            .map_or_else(
                || verdict.policy_domain.clone(),
                |(_, d)| d.to_ascii_lowercase(),
            );
        *self
            .domains
            .entry(domain)
            .or_default()
            .entry(d)
            .or_default() += 1;
        if self.slowest.len() < SLOWEST || self.slowest.last().is_some_and(|s| s.0 < micros) {
            let at = self.slowest.partition_point(|s| s.0 >= micros);
            self.slowest.insert(at, (micros, name.to_string(), d));
            self.slowest.truncate(SLOWEST);
        }
    }

    /// Counts a message that could not be read.
    pub fn add_error(&mut self) {
        self.messages += 1;
        self.errors += 1;
    }

    /// The page.
    pub fn render(&self, title: &str) -> String {
        let mut h = String::with_capacity(64 * 1024);
        let _ = write!(
            h,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{t}</title><style>{STYLE}</style></head><body>\
             <h1>{t}</h1><p id=\"totals\">{} messages, {} unreadable</p>",
            self.messages,
            self.errors,
            t = esc(title)
        );
        self.counts_section(&mut h);
        self.confusion_section(&mut h);
        self.histogram_section(&mut h);
        self.rules_section(&mut h);
        self.calibration_section(&mut h);
        self.domains_section(&mut h);
        self.slowest_section(&mut h);
        self.cells_section(&mut h);
        h.push_str("</body></html>\n");
        h
    }

    fn counts_section(&self, h: &mut String) {
        h.push_str("<section id=\"dispositions\"><h2>Dispositions and routes</h2>");
        let bars: Vec<(String, u64)> = self
            .dispositions
            .iter()
            .map(|(d, n)| (d.as_str().to_string(), *n))
            .collect();
        bar_chart(h, &bars);
        let routes: Vec<(String, u64)> = self
            .routes
            .iter()
            .map(|(r, n)| (r.to_string(), *n))
            .collect();
        bar_chart(h, &routes);
        h.push_str("</section>");
    }

    fn confusion_section(&self, h: &mut String) {
        h.push_str("<section id=\"confusion\"><h2>Confusion matrix</h2><table class=\"heat\"><tr><th>label \\ verdict</th>");
        for d in Disposition::ALL {
            let _ = write!(h, "<th>{d}</th>");
        }
        h.push_str("</tr>");
        let labels: Vec<&String> = {
            let mut l: Vec<&String> = self.cells.keys().map(|(l, _)| l).collect();
            l.dedup();
            l
        };
        for label in labels {
            let row_total: u64 = Disposition::ALL
                .iter()
                .filter_map(|d| self.cells.get(&(label.clone(), *d)).map(|c| c.0))
                .sum();
            let _ = write!(h, "<tr><th>{}</th>", esc(label));
            for d in Disposition::ALL {
                match self.cells.get(&(label.clone(), d)) {
                    Some((n, _)) => {
                        let share = *n as f64 / row_total.max(1) as f64;
                        let _ = write!(
                            h,
                            "<td class=\"cell\" style=\"background:rgba(200,40,40,{:.2})\"><a href=\"#{}\">{n}</a></td>",
                            0.08 + 0.8 * share,
                            cell_id(label, d)
                        );
                    }
                    None => h.push_str("<td class=\"cell\">0</td>"),
                }
            }
            h.push_str("</tr>");
        }
        h.push_str("</table></section>");
    }

    fn histogram_section(&self, h: &mut String) {
        h.push_str("<section id=\"scores\"><h2>Score histograms per label</h2><p>The verdict's score (the winning disposition's, or the highest for NONE), one bar per point; the last bar is 20 and above.</p>");
        for (label, bins) in &self.histograms {
            let _ = write!(h, "<h3>{}</h3>", esc(label));
            let bars: Vec<(String, u64)> = bins
                .iter()
                .enumerate()
                .map(|(i, n)| (i.to_string(), *n))
                .collect();
            column_chart(h, &bars);
        }
        h.push_str("</section>");
    }

    fn rules_section(&self, h: &mut String) {
        h.push_str(
            "<section id=\"rules\"><h2>Top rules</h2><div class=\"pair\"><div><h3>By hits</h3>",
        );
        let mut by_hits: Vec<(&String, &RuleHits)> = self.rules.iter().collect();
        by_hits.sort_by(|a, b| b.1.hits.cmp(&a.1.hits).then(a.0.cmp(b.0)));
        rule_table(h, by_hits.iter().take(30).copied());
        h.push_str("</div><div><h3>By precision</h3><p>Share of a rule's labelled hits that were on spam (rules with at least 5 labelled hits).</p>");
        let mut by_precision: Vec<(&String, &RuleHits)> = self
            .rules
            .iter()
            .filter(|(_, r)| r.on_spam + r.on_ham >= 5)
            .collect();
        by_precision.sort_by(|a, b| {
            precision(b.1)
                .total_cmp(&precision(a.1))
                .then(b.1.hits.cmp(&a.1.hits))
        });
        rule_table(h, by_precision.iter().take(30).copied());
        h.push_str("</div></div></section>");
    }

    fn calibration_section(&self, h: &mut String) {
        h.push_str("<section id=\"calibration\"><h2>Model calibration</h2>");
        let scored: u64 = self.calibration.iter().map(|c| c.0).sum();
        if scored == 0 {
            h.push_str("<p>No labelled message was scored by a model (replay with <code>--model</code> and <code>--labels</code>).</p></section>");
            return;
        }
        let _ = write!(
            h,
            "<p>{scored} labelled messages: predicted spam probability (x) against the share that was spam (y); a calibrated model follows the diagonal.</p>"
        );
        let (w, ht, pad) = (320.0, 320.0, 30.0);
        let _ = write!(
            h,
            "<svg class=\"calibration\" width=\"{}\" height=\"{}\" role=\"img\"><line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{pad}\" stroke=\"#aaa\" stroke-dasharray=\"4\"/>",
            w + 2.0 * pad,
            ht + 2.0 * pad,
            ht + pad,
            w + pad
        );
        let mut points = Vec::new();
        for (n, spam, sum) in self.calibration.iter().filter(|c| c.0 > 0) {
            let x = pad + w * (sum / *n as f64);
            let y = pad + ht * (1.0 - *spam as f64 / *n as f64);
            points.push(format!("{x:.1},{y:.1}"));
            let _ = write!(
                h,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{:.1}\" fill=\"#c33\"><title>{n} messages, {spam} spam</title></circle>",
                3.0 + (*n as f64).log10() * 2.0
            );
        }
        let _ = write!(
            h,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#c33\"/><rect x=\"{pad}\" y=\"{pad}\" width=\"{w}\" height=\"{ht}\" fill=\"none\" stroke=\"#333\"/></svg></section>",
            points.join(" ")
        );
    }

    fn domains_section(&self, h: &mut String) {
        h.push_str("<section id=\"domains\"><h2>Per domain</h2><table><tr><th>domain</th>");
        for d in Disposition::ALL {
            let _ = write!(h, "<th>{d}</th>");
        }
        h.push_str("</tr>");
        let mut domains: Vec<(&String, u64)> = self
            .domains
            .iter()
            .map(|(d, m)| (d, m.values().sum()))
            .collect();
        domains.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for (domain, _) in domains.into_iter().take(DOMAINS) {
            let _ = write!(h, "<tr><th>{}</th>", esc(domain));
            for d in Disposition::ALL {
                let n = self.domains[domain].get(&d).copied().unwrap_or(0);
                let _ = write!(h, "<td>{n}</td>");
            }
            h.push_str("</tr>");
        }
        h.push_str("</table></section>");
    }

    fn slowest_section(&self, h: &mut String) {
        h.push_str("<section id=\"slowest\"><h2>Slowest messages</h2><table><tr><th>µs</th><th>message</th><th>verdict</th></tr>");
        for (micros, name, d) in &self.slowest {
            let _ = write!(
                h,
                "<tr><td>{micros}</td><td>{}</td><td>{d}</td></tr>",
                esc(name)
            );
        }
        h.push_str("</table></section>");
    }

    fn cells_section(&self, h: &mut String) {
        h.push_str("<section id=\"messages\"><h2>Messages per cell</h2>");
        for ((label, d), (n, listed)) in &self.cells {
            let _ = write!(
                h,
                "<details id=\"{}\"><summary>{} → {d}: {n} messages{}</summary><table><tr><th>message</th><th>score</th><th>rules</th></tr>",
                cell_id(label, *d),
                esc(label),
                if *n as usize > listed.len() {
                    format!(" (first {} listed)", listed.len())
                } else {
                    String::new()
                }
            );
            for m in listed {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
                    esc(&m.name),
                    m.score,
                    esc(&m.rules)
                );
            }
            h.push_str("</table></details>");
        }
        // A link to a cell opens it.
        h.push_str("<script>function openCell(){var e=document.getElementById(location.hash.slice(1));if(e&&e.tagName==='DETAILS'){e.open=true;}}window.addEventListener('hashchange',openCell);openCell();</script>");
        h.push_str("</section>");
    }
}

fn precision(r: &RuleHits) -> f64 {
    r.on_spam as f64 / (r.on_spam + r.on_ham).max(1) as f64
}

fn rule_table<'a>(h: &mut String, rows: impl Iterator<Item = (&'a String, &'a RuleHits)>) {
    h.push_str("<table><tr><th>rule</th><th>hits</th><th>on spam</th><th>on ham</th><th>precision</th></tr>");
    for (rule, r) in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td></tr>",
            esc(rule),
            r.hits,
            r.on_spam,
            r.on_ham,
            100.0 * precision(r)
        );
    }
    h.push_str("</table>");
}

/// Horizontal bars with their counts.
fn bar_chart(h: &mut String, bars: &[(String, u64)]) {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let height = 22 * bars.len() + 4;
    let _ = write!(
        h,
        "<svg class=\"bars\" width=\"520\" height=\"{height}\" role=\"img\">"
    );
    for (i, (name, n)) in bars.iter().enumerate() {
        let y = 2 + 22 * i;
        let w = 300.0 * *n as f64 / max;
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"110\" y=\"{y}\" width=\"{w:.1}\" height=\"18\" fill=\"#4a7\"/><text x=\"{:.1}\" y=\"{}\">{n}</text>",
            y + 14,
            esc(name),
            115.0 + w,
            y + 14
        );
    }
    h.push_str("</svg>");
}

/// Vertical bars (a histogram) with their labels under them.
fn column_chart(h: &mut String, bars: &[(String, u64)]) {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let width = 24 * bars.len() + 4;
    let _ = write!(
        h,
        "<svg class=\"histogram\" width=\"{width}\" height=\"140\" role=\"img\">"
    );
    for (i, (name, n)) in bars.iter().enumerate() {
        let x = 2 + 24 * i;
        let bar = 100.0 * *n as f64 / max;
        let _ = write!(
            h,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"20\" height=\"{bar:.1}\" fill=\"#47a\"><title>{}: {n}</title></rect><text x=\"{x}\" y=\"130\" font-size=\"10\">{}</text>",
            110.0 - bar,
            esc(name),
            esc(name)
        );
    }
    h.push_str("</svg>");
}

fn cell_id(label: &str, d: Disposition) -> String {
    let label: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("cell-{label}-{d}")
}

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}h2{border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}.heat td.cell{min-width:4em;text-align:center}\
.pair{display:flex;gap:2em;flex-wrap:wrap}svg text{font-size:12px}details{margin:.3em 0}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_message_name_can_hold() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn keeps_the_slowest_and_bounds_the_lists() {
        let engine = mailsift_testkit::engine();
        let verdict = engine.classify(b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n", None);
        let mut r = HtmlReport::new();
        for i in 0..(MESSAGES_PER_CELL as u64 + 50) {
            r.add(&format!("m{i}"), &verdict, Some(Label::Ham), i);
        }
        assert_eq!(r.slowest.len(), SLOWEST);
        assert_eq!(r.slowest[0].0, MESSAGES_PER_CELL as u64 + 49);
        let cell = &r.cells[&("ham".to_string(), verdict.disposition)];
        assert_eq!(cell.0, MESSAGES_PER_CELL as u64 + 50);
        assert_eq!(cell.1.len(), MESSAGES_PER_CELL);
        let page = r.render("t");
        assert!(page.contains("first 200 listed"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "self-contained"
        );
    }
}
