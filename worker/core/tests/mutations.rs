//! Mutation testing for robustness: thousands of corrupted variants of the
//! corpus messages (flipped bytes, cuts, inserted markup, multi-byte UTF-8
//! at random offsets, deep folding) must each get a verdict without any
//! check panicking. The engine would catch a panic and quarantine the
//! message; here that counts as a failure, because it is a bug.

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INSERTS: &[&[u8]] = &[
    b"<",
    b">",
    b"&",
    b"&#",
    b"&amp",
    b";",
    b"=?",
    b"?=",
    b"=?utf-8?B?",
    b"=?x?Q?=",
    b"\r\n",
    b"\n\n",
    b"\r\n\t",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\x9c",
    b"\xf0\x9f\x93\x84",
    b"\xe3\x80\x80",
    b"http://",
    b"https://xn--",
    b"www.",
    b"@",
    b"[",
    b"]",
    b"(",
    b")",
    b"\"",
    b"'",
    b"--",
    b"boundary=\"",
    b"Content-Type: multipart/mixed; boundary=Z\r\n",
    b"Received: from ",
    b"From: ",
    b"<a href=\"",
    b"<form><input type=password>",
    b"PK\x03\x04",
    b"MZ",
    b"$",
    b"!!!",
    b"\xce\xb1",
    b"\xd0\xb0",
    b"      ",
    b"=\r\n",
    b"%",
    b"#1",
];

#[test]
fn corrupted_messages_never_panic_a_check() {
    let originals: Vec<Vec<u8>> = mailsift_testkit::corpus_messages()
        .into_iter()
        .map(|(_, _, b)| b)
        .collect();
    let engine = mailsift_testkit::engine();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let rounds = 20_000;
    for round in 0..rounds {
        let mut m = originals[rng.below(originals.len())].clone();
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(m.len() + 1);
            match rng.below(5) {
                0 if !m.is_empty() => {
                    let i = rng.below(m.len());
                    m[i] ^= 1 << rng.below(8);
                }
                1 => m.truncate(at),
                2 => {
                    let ins = INSERTS[rng.below(INSERTS.len())];
                    m.splice(at..at, ins.iter().copied());
                }
                3 if at < m.len() => {
                    let end = (at + rng.below(64)).min(m.len());
                    m.drain(at..end);
                }
                _ => {
                    let ins = INSERTS[rng.below(INSERTS.len())].repeat(1 + rng.below(40));
                    m.splice(at..at, ins);
                }
            }
        }
        let v = engine.classify(&m, None);
        assert!(
            !v.findings.iter().any(|f| f.rule == "ENGINE_INTERNAL_ERROR"),
            "round {round}: a check panicked: {:?}",
            v.error
        );
    }
}
