//! The tray icon, drawn at run time: a bell whose colour says the connection
//! state, and the unread count in a red badge (1–99, then "99+"). Pure RGBA,
//! so it is tested here and the shell only hands the pixels to the tray.
//!
//! [`read_badge`] reads the count back from pixels; tests use it on the PNG
//! the tray actually exported.

/// How the bell looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    Connected,
    Connecting,
    Offline,
    /// Sign-in refused or misconfigured: a person has to act.
    Problem,
}

impl Look {
    /// RGB of the bell.
    pub fn color(self) -> [u8; 3] {
        match self {
            Look::Connected => [0x2F, 0x80, 0xED],
            Look::Connecting => [0xF2, 0xA3, 0x3A],
            Look::Offline => [0x8A, 0x8F, 0x98],
            Look::Problem => [0xC0, 0x39, 0x2B],
        }
    }
}

/// Badge red and its text.
pub const BADGE_RGB: [u8; 3] = [0xE5, 0x48, 0x4D];
const TEXT_RGB: [u8; 3] = [0xFF, 0xFF, 0xFF];

/// The badge text for a count: "" for 0, "1".."99", "99+".
pub fn badge_text(count: u64) -> String {
    match count {
        0 => String::new(),
        1..=99 => count.to_string(),
        _ => "99+".into(),
    }
}

/// 3×5 glyphs, one row per byte (bit 2 = left column).
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '+' => [0b000, 0b010, 0b111, 0b010, 0b000],
        _ => return None,
    })
}

const GLYPHS: &str = "0123456789+";

/// Font scale and padding for an icon of `size` pixels.
fn metrics(size: u32) -> (u32, u32) {
    let scale = (size / 14).max(1);
    let pad = scale.max(1);
    (scale, pad)
}

/// Where the badge sits: (x0, y0, width, height), top-right corner.
fn badge_rect(size: u32, chars: u32) -> (u32, u32, u32, u32) {
    let (scale, pad) = metrics(size);
    let w = (chars * 4 * scale).saturating_sub(scale) + 2 * pad;
    let h = 5 * scale + 2 * pad;
    (size.saturating_sub(w), 0, w.min(size), h.min(size))
}

/// Is (u, v) in [0,1]² inside the bell?
fn in_bell(u: f32, v: f32) -> bool {
    let dx = u - 0.5;
    let knob = dx * dx + (v - 0.12) * (v - 0.12) <= 0.06 * 0.06;
    let dome = v <= 0.36 && dx * dx + (v - 0.36) * (v - 0.36) <= 0.24 * 0.24;
    let body = (0.36..=0.72).contains(&v) && {
        let t = (v - 0.36) / 0.36;
        dx.abs() <= 0.24 + 0.10 * t * t
    };
    let rim = (0.70..=0.78).contains(&v) && dx.abs() <= 0.40;
    let clapper = dx * dx + (v - 0.85) * (v - 0.85) <= 0.085 * 0.085;
    knob || dome || body || rim || clapper
}

/// Render the icon as RGBA, `size`×`size`.
pub fn render(size: u32, count: u64, look: Look) -> Vec<u8> {
    let size = size.clamp(8, 512);
    let mut px = vec![0u8; (size * size * 4) as usize];
    let [r, g, b] = look.color();
    let alpha_scale = if look == Look::Offline { 0.75 } else { 1.0 };
    // The bell, 4×4 supersampled.
    for y in 0..size {
        for x in 0..size {
            let mut hits = 0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let u = (x as f32 + (sx as f32 + 0.5) / 4.0) / size as f32;
                    let v = (y as f32 + (sy as f32 + 0.5) / 4.0) / size as f32;
                    if in_bell(u, v) {
                        hits += 1;
                    }
                }
            }
            if hits > 0 {
                let i = ((y * size + x) * 4) as usize;
                px[i..i + 4].copy_from_slice(&[
                    r,
                    g,
                    b,
                    (hits as f32 / 16.0 * 255.0 * alpha_scale) as u8,
                ]);
            }
        }
    }
    let text = badge_text(count);
    if text.is_empty() {
        return px;
    }
    let (scale, pad) = metrics(size);
    let (bx, by, bw, bh) = badge_rect(size, text.chars().count() as u32);
    let mut put = |x: u32, y: u32, rgb: [u8; 3]| {
        if x < size && y < size {
            let i = ((y * size + x) * 4) as usize;
            px[i..i + 4].copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
        }
    };
    for y in by..by + bh {
        for x in bx..bx + bw {
            // Clip the four corners for a rounded look.
            let corner = (x == bx || x == bx + bw - 1) && (y == by || y == by + bh - 1);
            if !corner {
                put(x, y, BADGE_RGB);
            }
        }
    }
    for (n, c) in text.chars().enumerate() {
        let Some(rows) = glyph(c) else { continue };
        let gx = bx + pad + n as u32 * 4 * scale;
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..3u32 {
                if bits & (0b100 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            put(
                                gx + col * scale + dx,
                                by + pad + row as u32 * scale + dy,
                                TEXT_RGB,
                            );
                        }
                    }
                }
            }
        }
    }
    px
}

/// Read the badge text back from an icon's RGBA pixels (square, any size the
/// renderer supports). `None` when there is no badge.
pub fn read_badge(rgba: &[u8], size: u32) -> Option<String> {
    if rgba.len() != (size * size * 4) as usize {
        return None;
    }
    let (scale, pad) = metrics(size);
    let is = |x: u32, y: u32, rgb: [u8; 3]| {
        let i = ((y * size + x) * 4) as usize;
        rgba[i + 3] > 200
            && rgba[i..i + 3]
                .iter()
                .zip(rgb)
                .all(|(a, b)| a.abs_diff(b) < 8)
    };
    // The badge's top row is padding: scan it leftwards from the right edge
    // (its two corner pixels are clipped).
    let mut left = size - 1;
    while left > 0 && is(left - 1, 0, BADGE_RGB) {
        left -= 1;
    }
    if left == size - 1 {
        return None;
    }
    let width = (size - 1 - left) + 2;
    let chars = (width - 2 * pad + scale) / (4 * scale);
    let (bx, by, _, _) = badge_rect(size, chars);
    let mut out = String::new();
    for n in 0..chars {
        let gx = bx + pad + n * 4 * scale;
        let mut rows = [0u8; 5];
        for (row, bits) in rows.iter_mut().enumerate() {
            for col in 0..3u32 {
                let x = gx + col * scale + scale / 2;
                let y = by + pad + row as u32 * scale + scale / 2;
                if x < size && y < size && is(x, y, TEXT_RGB) {
                    *bits |= 0b100 >> col;
                }
            }
        }
        out.push(GLYPHS.chars().find(|c| glyph(*c) == Some(rows))?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_text_caps_at_99_plus() {
        let table = [
            (0, ""),
            (1, "1"),
            (9, "9"),
            (10, "10"),
            (99, "99"),
            (100, "99+"),
            (u64::MAX, "99+"),
        ];
        for (n, want) in table {
            assert_eq!(badge_text(n), want);
        }
    }

    #[test]
    fn every_count_reads_back_at_every_tray_size() {
        for size in [16, 22, 24, 32, 48, 64] {
            for n in [0u64, 1, 7, 10, 42, 88, 99, 100, 12_345] {
                for look in [
                    Look::Connected,
                    Look::Connecting,
                    Look::Offline,
                    Look::Problem,
                ] {
                    let px = render(size, n, look);
                    let want = (n > 0).then(|| badge_text(n));
                    assert_eq!(
                        read_badge(&px, size),
                        want,
                        "size {size} count {n} {look:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn looks_differ_in_the_bell_colour() {
        let centre = |look| {
            let px = render(32, 0, look);
            let i = ((20 * 32 + 16) * 4) as usize;
            [px[i], px[i + 1], px[i + 2]]
        };
        let looks = [
            Look::Connected,
            Look::Connecting,
            Look::Offline,
            Look::Problem,
        ];
        for (i, a) in looks.iter().enumerate() {
            assert_eq!(centre(*a), a.color());
            for b in &looks[i + 1..] {
                assert_ne!(centre(*a), centre(*b));
            }
        }
    }

    #[test]
    fn the_badge_fits_inside_a_16_pixel_icon() {
        let (x, _, w, h) = badge_rect(16, 3);
        assert!(x + w <= 16 && h <= 16);
        assert!(w >= 11, "three 3-pixel glyphs need room");
    }
}
