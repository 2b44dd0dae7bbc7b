//! The recipients delivery recently delivered, by stable id: the broker
//! delivers at least once, so a message can arrive twice (a worker crash
//! between publish and ack, a requeue after a partial delivery); a repeat
//! is not sent to the next hop again. Bounded: the oldest are forgotten.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// A bounded set of (id, recipient) keys.
pub struct Recent {
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
    capacity: usize,
}

impl Recent {
    /// Remembers at most `capacity` keys.
    pub fn new(capacity: usize) -> Recent {
        Recent {
            inner: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    fn key(id: &str, recipient: &str) -> String {
        format!("{id}\0{}", recipient.to_ascii_lowercase())
    }

    /// True when `recipient` of message `id` was delivered already.
    pub fn contains(&self, id: &str, recipient: &str) -> bool {
        self.inner
            .lock()
            .is_ok_and(|g| g.0.contains(&Self::key(id, recipient)))
    }

    /// Remembers that `recipient` of message `id` was delivered.
    pub fn insert(&self, id: &str, recipient: &str) {
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        let key = Self::key(id, recipient);
        if g.0.insert(key.clone()) {
            g.1.push_back(key);
            while g.1.len() > self.capacity {
                if let Some(old) = g.1.pop_front() {
                    g.0.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets_the_oldest() {
        let r = Recent::new(2);
        r.insert("a", "X@c.com");
        assert!(r.contains("a", "x@c.com"));
        assert!(!r.contains("a", "y@c.com"));
        r.insert("b", "x@c.com");
        r.insert("c", "x@c.com");
        assert!(!r.contains("a", "x@c.com"), "the oldest is forgotten");
        assert!(r.contains("c", "x@c.com"));
    }
}
