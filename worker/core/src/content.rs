//! Text and links extracted once per message and shared by the checks.

use crate::html;
use crate::message::{ParsedMessage, Part, PartKind};
use crate::rules::Rules;
use crate::text::truncate;
use crate::url::{self, Url};

/// A link found in the message, with where it came from.
#[derive(Clone, Debug)]
pub struct Link {
    /// The parsed URL.
    pub url: Url,
    /// The anchor's visible text, for HTML links.
    pub anchor_text: Option<String>,
}

/// Text and links extracted once per message and shared by the checks.
#[derive(Clone, Debug, Default)]
pub struct Content {
    /// Subject + text parts + visible HTML text, whitespace-folded, bounded.
    pub text: String,
    /// Distinct links, bounded.
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
    /// Whether any HTML body part exists.
    pub has_html: bool,
    /// Whether any plain-text body part exists.
    pub has_text: bool,
}

impl Content {
    /// Extracts text and links from the body parts (not attachments).
    pub fn extract(msg: &ParsedMessage<'_>, parts: &[Part<'_>], rules: &Rules) -> Content {
        let limits = &rules.engine.limits;
        let mut c = Content::default();
        let mut seen = std::collections::HashSet::new();
        if let Some(s) = msg.subject() {
            c.text.push_str(&html::fold_whitespace(s));
        }
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
                    c.text.push(' ');
                    c.text.push_str(&html::fold_whitespace(body));
                    for raw in url::find_in_text(body, limits.max_urls) {
                        if c.links.len() < limits.max_urls
                            && seen.insert((raw.clone(), String::new()))
                        {
                            c.links.push(Link {
                                url: Url::parse(&raw),
                                anchor_text: None,
                            });
                        }
                    }
                }
                PartKind::Html => {
                    c.has_html = true;
                    let doc = html::scan(body, budget);
                    c.text.push(' ');
                    c.text.push_str(&doc.text);
                    for a in doc.anchors {
                        // Keyed with the anchor text: the same URL shown as
                        // another domain in HTML must not hide behind its
                        // plain-text twin.
                        if c.links.len() < limits.max_urls
                            && seen.insert((a.href.clone(), a.text.clone()))
                        {
                            c.links.push(Link {
                                url: Url::parse(&a.href),
                                anchor_text: Some(a.text),
                            });
                        } else if c.links.len() >= limits.max_urls {
                            break;
                        }
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
        c
    }
}
