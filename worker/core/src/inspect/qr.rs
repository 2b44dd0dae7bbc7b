//! QR codes in images ("quishing": the link is a picture, so text filters
//! never see it). Decoded with `rqrr` from PNG, JPEG or GIF bytes, bounded
//! in size; big images are scaled down first (a QR code in a phishing
//! image fills a good part of it).

use image::{ImageReader, Limits};
use std::io::Cursor;

/// Images larger than this many bytes are not decoded.
pub const MAX_IMAGE_BYTES: usize = 5 << 20;
/// Images wider or taller than this are refused by the decoder.
const MAX_SIDE: u32 = 6000;
/// The longest side QR detection works on; larger images are shrunk.
const DETECT_SIDE: u32 = 1200;
/// Codes read per image.
const MAX_CODES: usize = 4;
/// Finder-pattern candidates an image may have before it is left alone:
/// three per code for `MAX_CODES` codes, and room for look-alikes. The
/// detector pairs every candidate with every other and copies the image
/// for each pair, so a picture tiled with finder look-alikes would take it
/// minutes; a real QR code has three.
const MAX_FINDER_CANDIDATES: usize = 24;

/// The texts of the QR codes in an image, or an empty list when it is not
/// an image we decode, too big, or has no readable code.
pub fn decode(bytes: &[u8]) -> Vec<String> {
    if bytes.len() > MAX_IMAGE_BYTES || bytes.len() < 16 {
        return Vec::new();
    }
    // The decoders are fed hostile bytes (rqrr still asserts on some
    // geometry): a bug there costs this image its codes, not the message
    // its verdict.
    std::panic::catch_unwind(|| decode_unguarded(bytes)).unwrap_or_default()
}

fn decode_unguarded(bytes: &[u8]) -> Vec<String> {
    let Ok(reader) = ImageReader::new(Cursor::new(bytes)).with_guessed_format() else {
        return Vec::new();
    };
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(128 << 20);
    reader.limits(limits);
    let Ok(image) = reader.decode() else {
        return Vec::new();
    };
    let gray = image.to_luma8();
    let (w, h) = gray.dimensions();
    if w < 21 || h < 21 {
        return Vec::new();
    }
    // Integer downscale by averaging blocks: cheap and keeps modules sharp
    // enough for the detector.
    let factor = (w.max(h)).div_ceil(DETECT_SIDE).max(1);
    let (sw, sh) = ((w / factor) as usize, (h / factor) as usize);
    let mut small = vec![0u8; sw * sh];
    for (i, px) in small.iter_mut().enumerate() {
        let (x0, y0) = ((i % sw) as u32 * factor, (i / sw) as u32 * factor);
        let mut sum = 0u32;
        for dy in 0..factor {
            for dx in 0..factor {
                sum += u32::from(gray.get_pixel((x0 + dx).min(w - 1), (y0 + dy).min(h - 1))[0]);
            }
        }
        *px = (sum / (factor * factor)) as u8;
    }
    if finder_candidates(&small, sw) > MAX_FINDER_CANDIDATES {
        return Vec::new();
    }
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(sw, sh, |x, y| small[y * sw + x]);
    prepared
        .detect_grids()
        .into_iter()
        .take(MAX_CODES)
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .filter(|t| !t.trim().is_empty())
        .collect()
}

/// Counts the places that look like a QR finder pattern: a row crossing
/// dark, light, dark, light, dark runs in the proportions 1:1:3:1:1 (as
/// the detector scans, on a similar moving-average threshold), counted
/// once per pattern by ignoring rows that continue a pattern just above.
fn finder_candidates(pixels: &[u8], width: usize) -> usize {
    let window = (width / 8).max(1);
    let mut count = 0;
    let mut above: Vec<(usize, usize)> = Vec::new();
    let mut here: Vec<(usize, usize)> = Vec::new();
    for row in pixels.chunks_exact(width) {
        here.clear();
        // Dark where darker than 95 % of the mean over the last `window`
        // pixels.
        let mut sum: u32 = row.iter().take(window).map(|&p| u32::from(p)).sum();
        let dark = |x: usize, sum: u32| u32::from(row[x]) * 100 * window as u32 <= sum * 95;
        let mut runs = [0usize; 5];
        let mut run = 1;
        let mut last = dark(0, sum);
        for x in 1..=width {
            let colour = if x == width {
                false
            } else {
                if x >= window {
                    sum = sum + u32::from(row[x]) - u32::from(row[x - window]);
                }
                dark(x, sum)
            };
            if colour == last {
                run += 1;
                continue;
            }
            runs.rotate_left(1);
            runs[4] = run;
            run = 1;
            last = colour;
            // A finished dark run that ends the pattern.
            if !colour && runs[0] > 0 && is_finder_ratio(&runs) {
                let centre = x - runs[4] - runs[3] - runs[2] / 2;
                let reach = runs[2];
                here.push((centre, reach));
                if !above
                    .iter()
                    .any(|&(c, r)| c.abs_diff(centre) <= r.max(reach))
                {
                    count += 1;
                    if count > MAX_FINDER_CANDIDATES {
                        return count;
                    }
                }
            }
        }
        std::mem::swap(&mut above, &mut here);
    }
    count
}

/// Runs in the proportions 1:1:3:1:1, within the detector's tolerance.
fn is_finder_ratio(runs: &[usize; 5]) -> bool {
    const CHECK: [usize; 5] = [1, 1, 3, 1, 1];
    let avg = (runs[0] + runs[1] + runs[3] + runs[4]) / 4;
    let err = avg * 3 / 4;
    runs.iter()
        .zip(CHECK)
        .all(|(&r, k)| r + err >= k * avg && r <= k * avg + err)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A PNG of a QR code holding `https://qr.example/login` (made with
    /// qrencode -s 4 -m 2; kept as bytes so the test needs no tool).
    pub const QR_PNG: &[u8] = include_bytes!("../../testdata/qr-login.png");

    #[test]
    fn reads_a_qr_code_and_ignores_the_rest() {
        assert_eq!(decode(QR_PNG), vec!["https://qr.example/login".to_string()]);
        assert!(decode(b"not an image at all, just text").is_empty());
        let mut truncated = QR_PNG.to_vec();
        truncated.truncate(QR_PNG.len() / 2);
        assert!(decode(&truncated).is_empty());
    }

    /// A picture tiled with finder-pattern look-alikes is refused before
    /// detection (which would take minutes on it), a real code is not.
    #[test]
    fn finder_look_alike_tiles_are_refused() {
        let tiles = image::GrayImage::from_fn(300, 300, |x, y| {
            let (cx, cy) = (x % 9, y % 9);
            let light = cx > 6 || cy > 6 || cx.min(cy).min(6 - cx).min(6 - cy) == 1;
            image::Luma([if light { 255 } else { 0 }])
        });
        assert!(finder_candidates(tiles.as_raw(), 300) > MAX_FINDER_CANDIDATES);
        let mut png = Vec::new();
        image::DynamicImage::ImageLuma8(tiles)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("png");
        let started = std::time::Instant::now();
        assert!(decode(&png).is_empty());
        // Not a timing target: without the guard this takes ~8 s.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let code = image::load_from_memory(QR_PNG).expect("png").to_luma8();
        let n = finder_candidates(code.as_raw(), code.width() as usize);
        assert!((3..=MAX_FINDER_CANDIDATES).contains(&n), "{n}");
    }
}
