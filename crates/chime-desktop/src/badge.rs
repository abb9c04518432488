//! The tray icon, drawn at run time: a bell whose colour says the connection
//! state, and the unread count in a red badge (1–99, then "99+"), both
//! anti-aliased at any size (tiny-skia for the shapes, ab_glyph for the
//! digits of an embedded font). Pure RGBA, so it is tested here and the
//! shell only hands the pixels to the tray.
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

/// The badge's digits: DejaVu Sans Condensed Bold, only `0`–`9` and `+`
/// (see `assets/LICENSE-badge-digits.txt`).
const DIGITS_TTF: &[u8] = include_bytes!("../assets/badge-digits.ttf");

/// The badge's rectangle (x, y, width, height) for `text` on a `size` icon:
/// a pill in the top-right corner, half the icon high, as wide as the text
/// needs.
fn badge_rect(size: u32, text: &str) -> (f32, f32, f32, f32) {
    let s = size as f32;
    let h = (s * 0.5).round().max(8.0);
    let w = (text_width(text, font_px(h)) + h * 0.45).max(h).min(s);
    (s - w, 0.0, w, h)
}

/// The digits' pixel size in a badge `h` high.
fn font_px(h: f32) -> f32 {
    h * 0.92
}

fn font() -> Option<ab_glyph::FontRef<'static>> {
    ab_glyph::FontRef::try_from_slice(DIGITS_TTF).ok()
}

fn text_width(text: &str, px: f32) -> f32 {
    use ab_glyph::{Font, ScaleFont};
    let Some(font) = font() else {
        return 0.0;
    };
    let f = font.as_scaled(px);
    text.chars().map(|c| f.h_advance(f.glyph_id(c))).sum()
}

/// The bell, in a 1×1 box: knob, dome flaring to the rim, rim, clapper.
fn bell_path(size: f32) -> Option<tiny_skia::Path> {
    let mut pb = tiny_skia::PathBuilder::new();
    let p = |u: f32| u * size;
    // Knob.
    pb.push_circle(p(0.5), p(0.13), p(0.065));
    // Dome and flared sides, one closed outline.
    pb.move_to(p(0.5), p(0.16));
    pb.cubic_to(p(0.70), p(0.16), p(0.76), p(0.32), p(0.76), p(0.46));
    pb.cubic_to(p(0.76), p(0.60), p(0.80), p(0.66), p(0.88), p(0.72));
    pb.line_to(p(0.88), p(0.78));
    pb.line_to(p(0.12), p(0.78));
    pb.line_to(p(0.12), p(0.72));
    pb.cubic_to(p(0.20), p(0.66), p(0.24), p(0.60), p(0.24), p(0.46));
    pb.cubic_to(p(0.24), p(0.32), p(0.30), p(0.16), p(0.5), p(0.16));
    pb.close();
    // Clapper.
    pb.push_circle(p(0.5), p(0.86), p(0.085));
    pb.finish()
}

/// A rounded rectangle (radius `r`).
fn pill(x: f32, y: f32, w: f32, h: f32, r: f32) -> Option<tiny_skia::Path> {
    let mut pb = tiny_skia::PathBuilder::new();
    let k = 0.552_284_8 * r;
    pb.move_to(x + r, y);
    pb.line_to(x + w - r, y);
    pb.cubic_to(x + w - r + k, y, x + w, y + r - k, x + w, y + r);
    pb.line_to(x + w, y + h - r);
    pb.cubic_to(x + w, y + h - r + k, x + w - r + k, y + h, x + w - r, y + h);
    pb.line_to(x + r, y + h);
    pb.cubic_to(x + r - k, y + h, x, y + h - r + k, x, y + h - r);
    pb.line_to(x, y + r);
    pb.cubic_to(x, y + r - k, x + r - k, y, x + r, y);
    pb.close();
    pb.finish()
}

fn paint(rgb: [u8; 3], alpha: u8) -> tiny_skia::Paint<'static> {
    let mut paint = tiny_skia::Paint::default();
    paint.set_color_rgba8(rgb[0], rgb[1], rgb[2], alpha);
    paint.anti_alias = true;
    paint
}

/// Render the icon as straight (not premultiplied) RGBA, `size`×`size`:
/// shapes anti-aliased from vector paths (tiny-skia), the count in a real
/// font (ab_glyph), at any size a panel asks for.
pub fn render(size: u32, count: u64, look: Look) -> Vec<u8> {
    let size = size.clamp(8, 512);
    let Some(mut pm) = tiny_skia::Pixmap::new(size, size) else {
        return vec![0; (size * size * 4) as usize];
    };
    let alpha = if look == Look::Offline { 191 } else { 255 };
    if let Some(bell) = bell_path(size as f32) {
        pm.fill_path(
            &bell,
            &paint(look.color(), alpha),
            tiny_skia::FillRule::Winding,
            tiny_skia::Transform::identity(),
            None,
        );
    }
    let text = badge_text(count);
    if !text.is_empty() {
        draw_badge(&mut pm, size, &text);
    }
    pm.pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue(), c.alpha()]
        })
        .collect()
}

fn draw_badge(pm: &mut tiny_skia::Pixmap, size: u32, text: &str) {
    use ab_glyph::{point, Font, ScaleFont};
    let (x, y, w, h) = badge_rect(size, text);
    // A clear ring around the badge keeps it apart from the bell (the
    // problem look's bell is red too).
    let ring = (size as f32 / 24.0).max(1.0);
    if let Some(p) = pill(
        x - ring,
        y - ring,
        w + 2.0 * ring,
        h + 2.0 * ring,
        h / 2.0 + ring,
    ) {
        let mut clear = paint([0, 0, 0], 255);
        clear.blend_mode = tiny_skia::BlendMode::Clear;
        pm.fill_path(
            &p,
            &clear,
            tiny_skia::FillRule::Winding,
            tiny_skia::Transform::identity(),
            None,
        );
    }
    if let Some(p) = pill(x, y, w, h, h / 2.0) {
        pm.fill_path(
            &p,
            &paint(BADGE_RGB, 255),
            tiny_skia::FillRule::Winding,
            tiny_skia::Transform::identity(),
            None,
        );
    }
    let Some(font) = font() else {
        return;
    };
    let px = font_px(h);
    let scaled = font.as_scaled(px);
    // Centred; digits sit on the baseline, their height is the cap height.
    let cap = scaled.ascent() * 0.73;
    let baseline = (y + (h + cap) / 2.0).round();
    let mut pen = x + (w - text_width(text, px)) / 2.0;
    let width = pm.width();
    let data = pm.pixels_mut();
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        let glyph = id.with_scale_and_position(px, point(pen, baseline));
        pen += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, cov| {
            let (xx, yy) = (
                bounds.min.x as i64 + gx as i64,
                bounds.min.y as i64 + gy as i64,
            );
            if xx < 0 || yy < 0 || xx >= i64::from(width) || yy >= i64::from(size) {
                return;
            }
            let i = (yy as u32 * width + xx as u32) as usize;
            let under = data[i].demultiply();
            let a = cov.clamp(0.0, 1.0);
            let mix = |u: u8, t: u8| (f32::from(u) * (1.0 - a) + f32::from(t) * a).round() as u8;
            let blended = tiny_skia::ColorU8::from_rgba(
                mix(under.red(), TEXT_RGB[0]),
                mix(under.green(), TEXT_RGB[1]),
                mix(under.blue(), TEXT_RGB[2]),
                under.alpha().max((a * 255.0) as u8),
            );
            data[i] = blended.premultiply();
        });
    }
}

/// Read the badge text back from an icon's RGBA pixels (square, any size
/// the renderer supports). `None` when there is no badge. The badge's
/// width is measured along its middle row; among the texts of that width,
/// the one whose rendering matches the pixels is the answer.
pub fn read_badge(rgba: &[u8], size: u32) -> Option<String> {
    if size < 8 || rgba.len() != (size * size * 4) as usize {
        return None;
    }
    let at = |x: u32, y: u32| {
        let i = ((y * size + x) * 4) as usize;
        [rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]]
    };
    let h = (size as f32 * 0.5).round().max(8.0) as u32;
    let mid = h / 2;
    // Badge red, white, and the blends between them (green ≈ blue); no
    // bell colour passes (amber has blue ≪ green, the problem red a
    // darker red).
    let badgeish = |p: [u8; 4]| p[3] > 200 && p[0] > 0xD8 && u16::from(p[2]) + 8 >= u16::from(p[1]);
    // The pill's right padding is red on its middle row.
    let red = |p: [u8; 4]| {
        p[3] > 200
            && p[..3]
                .iter()
                .zip(BADGE_RGB)
                .all(|(a, b)| a.abs_diff(b) < 12)
    };
    if !(1..=size / 4).any(|d| red(at(size - d, mid))) {
        return None;
    }
    let mut left = size - 1;
    while left > 0 && badgeish(at(left - 1, mid)) {
        left -= 1;
    }
    let measured = (size - left) as f32;
    let mut best: Option<(u64, String)> = None;
    // Every text a badge can show: 1..=99 and "99+".
    for n in 1..=100u64 {
        let text = badge_text(n);
        let (x, _, w, _) = badge_rect(size, &text);
        if (w - measured).abs() > 2.5 {
            continue;
        }
        let mine = render(size, n, Look::Connected);
        let x0 = x.ceil() as u32;
        let mut diff = 0u64;
        for yy in 1..h.saturating_sub(1) {
            for xx in x0 + 1..size - 1 {
                let i = ((yy * size + xx) * 4) as usize;
                for c in 0..3 {
                    diff += u64::from(rgba[i + c].abs_diff(mine[i + c]));
                }
            }
        }
        if best.as_ref().is_none_or(|(d, _)| diff < *d) {
            best = Some((diff, text));
        }
    }
    let (diff, text) = best?;
    // A badge that matches nothing well is not one of ours.
    let area = u64::from(h) * (measured as u64 + 1) * 3;
    (diff <= area * 16).then_some(text)
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
    fn the_badge_fits_inside_every_icon_and_the_count_is_drawn_in_the_font() {
        for size in [16, 22, 24, 32, 48, 64] {
            let (x, _, w, h) = badge_rect(size, "99+");
            assert!(
                x >= 0.0 && x + w <= size as f32 + 0.01 && h <= size as f32,
                "{size}"
            );
        }
        assert!(font().is_some(), "the embedded digits load");
        // Anti-aliased: a 48 px badge has edge pixels between red and white,
        // and its digits cover more than the old 3×5 blocks did.
        let px = render(48, 8, Look::Connected);
        let (x, _, w, h) = badge_rect(48, "8");
        let mut white = 0;
        let mut between = 0;
        for y in 0..h as u32 {
            for xx in x.ceil() as u32..(x + w) as u32 {
                let i = ((y * 48 + xx) * 4) as usize;
                let g = px[i + 1];
                if g > 0xF0 {
                    white += 1;
                } else if g > 0x60 && g < 0xE0 {
                    between += 1;
                }
            }
        }
        assert!(white > 30, "the digit is drawn ({white} white pixels)");
        assert!(between > 10, "its edges are anti-aliased ({between})");
    }

    #[test]
    fn pixels_that_are_not_a_badge_read_as_none() {
        assert_eq!(read_badge(&[0; 16 * 16 * 4], 16), None);
        let mut px = render(32, 0, Look::Connected);
        // A red square where a badge would be, with no digits in it.
        for y in 0..16u32 {
            for x in 20..32u32 {
                let i = ((y * 32 + x) * 4) as usize;
                px[i..i + 4].copy_from_slice(&[BADGE_RGB[0], BADGE_RGB[1], BADGE_RGB[2], 255]);
            }
        }
        assert_eq!(read_badge(&px, 32), None);
    }
}
