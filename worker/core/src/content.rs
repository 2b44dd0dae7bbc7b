//! Text, links and attachment facts extracted once per message and shared
//! by the checks.

use crate::html;
use crate::inspect::{self, Attachment};
use crate::message::{ParsedMessage, Part, PartKind};
use crate::rules::Rules;
use crate::text::truncate;
use crate::url::{self, Url};

/// Where a link was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkSource {
    /// A plain-text body.
    Text,
    /// An HTML body (`<a>`, `<area>`).
    Html,
    /// Carried inside another link: a redirector's or a link-protection
    /// wrapper's destination.
    Carried,
    /// A PDF attachment's link.
    Pdf,
    /// A QR code in an image or a PDF.
    Qr,
    /// An attached HTML page (links, form targets, meta refresh).
    HtmlAttachment,
}

/// A link found in the message, with where it came from.
#[derive(Clone, Debug)]
pub struct Link {
    /// The parsed URL.
    pub url: Url,
    /// The anchor's visible text, for HTML links.
    pub anchor_text: Option<String>,
    /// Where it was found.
    pub source: LinkSource,
    /// The attachment it came from, or the link that carried it.
    pub via: Option<String>,
}

/// Text, links and attachment facts extracted once per message.
#[derive(Clone, Debug, Default)]
pub struct Content {
    /// Subject + text parts + visible HTML text, whitespace-folded, bounded.
    pub text: String,
    /// Distinct links, bounded: the bodies' first, then what they carry,
    /// then the attachments'.
    pub links: Vec<Link>,
    /// HTML forms.
    pub forms: Vec<html::Form>,
    /// Password inputs anywhere in HTML bodies.
    pub password_inputs: usize,
    /// Big-font and `<center>` tags in HTML bodies.
    pub shouting_tags: usize,
    /// `<img>` tags in HTML bodies.
    pub images: usize,
    /// Invisible elements in HTML bodies.
    pub hidden_elements: usize,
    /// Visible text length of the HTML bodies.
    pub html_text_len: usize,
    /// Text length of the plain-text bodies.
    pub plain_text_len: usize,
    /// Whether any HTML body part exists.
    pub has_html: bool,
    /// Whether any plain-text body part exists.
    pub has_text: bool,
    /// What each attachment holds (the first few attachments).
    pub attachments: Vec<Attachment>,
}

impl Content {
    /// Extracts text and links from the body parts and looks into the
    /// attachments.
    pub fn extract(msg: &ParsedMessage<'_>, parts: &[Part<'_>], rules: &Rules) -> Content {
        let limits = &rules.engine.limits;
        let mut c = Content::default();
        let mut seen = std::collections::HashSet::new();
        if let Some(s) = msg.subject() {
            c.text.push_str(&html::fold_whitespace(s));
        }
        let mut add =
            |c: &mut Content, raw: &str, anchor_text: Option<String>, source, via: Option<&str>| {
                if c.links.len() < limits.max_urls
                    && seen.insert((raw.to_string(), anchor_text.clone().unwrap_or_default()))
                {
                    c.links.push(Link {
                        url: Url::parse(raw),
                        anchor_text,
                        source,
                        via: via.map(str::to_string),
                    });
                }
            };
        for part in parts.iter().filter(|p| p.depth == 0) {
            let Some(body) = part.text else { continue };
            let budget = limits.max_text_bytes.saturating_sub(c.text.len());
            if budget == 0 {
                break;
            }
            match part.kind {
                PartKind::Text => {
                    c.has_text = true;
                    let body = truncate(body, budget);
                    let folded = html::fold_whitespace(body);
                    c.plain_text_len += folded.len();
                    c.text.push(' ');
                    c.text.push_str(&folded);
                    for raw in url::find_in_text(body, limits.max_urls) {
                        add(&mut c, &raw, None, LinkSource::Text, None);
                    }
                }
                PartKind::Html => {
                    c.has_html = true;
                    let doc = html::scan(body, budget);
                    c.text.push(' ');
                    c.text.push_str(&doc.text);
                    // Keyed with the anchor text: the same URL shown as
                    // another domain in HTML must not hide behind its
                    // plain-text twin.
                    for a in doc.anchors {
                        add(&mut c, &a.href, Some(a.text), LinkSource::Html, None);
                    }
                    if let Some(target) = &doc.refresh {
                        add(&mut c, target, None, LinkSource::Html, None);
                    }
                    c.forms.extend(doc.forms);
                    c.password_inputs += doc.password_inputs;
                    c.shouting_tags += doc.shouting_tags;
                    c.images += doc.images;
                    c.hidden_elements += doc.hidden_elements;
                    c.html_text_len += doc.text.len();
                }
                PartKind::Attachment => {}
            }
        }
        // Destinations carried by redirectors and link wrappers.
        let carried: Vec<(String, String)> = c
            .links
            .iter()
            .filter_map(|l| {
                let host = l.url.domain()?;
                let target = l.url.embedded_target()?;
                Some((target, host.to_string()))
            })
            .collect();
        for (target, host) in carried {
            add(&mut c, &target, None, LinkSource::Carried, Some(&host));
        }
        c.attachments = inspect::attachments(parts, limits.max_text_bytes);
        let attachment_links: Vec<(String, LinkSource, String)> = c
            .attachments
            .iter()
            .flat_map(|a| {
                let pdf = a
                    .pdf
                    .iter()
                    .flat_map(|p| p.links.iter())
                    .map(|l| (l.clone(), LinkSource::Pdf));
                let qr = a.qr_codes.iter().map(|l| (l.clone(), LinkSource::Qr));
                let page = a.html.iter().flat_map(|h| {
                    h.anchors
                        .iter()
                        .map(|x| x.href.clone())
                        .chain(h.forms.iter().filter_map(|f| f.action.clone()))
                        .chain(h.refresh.clone())
                        .map(|l| (l, LinkSource::HtmlAttachment))
                });
                pdf.chain(qr)
                    .chain(page)
                    .map(|(l, s)| (l, s, a.name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (raw, source, name) in attachment_links {
            // A QR code may hold any text; only web addresses are links.
            if source == LinkSource::Qr
                && !raw.contains("://")
                && !raw.to_ascii_lowercase().starts_with("www.")
            {
                continue;
            }
            add(&mut c, &raw, None, source, Some(&name));
        }
        c
    }
}
