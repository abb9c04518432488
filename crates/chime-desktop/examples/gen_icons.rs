//! The app icons in `icons/`, drawn by the same code as the tray icon
//! (`badge::render`, connected, no badge), so the two never drift apart.
//! `cargo run -p chime-desktop --example gen_icons` (from the repository root).

use chime_desktop::badge::{render, Look};

/// `--preview FILE`: a sheet of tray sizes × counts × looks, each pixel
/// drawn 4×4 on a panel grey, to look at.
fn preview(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let sizes = [16u32, 22, 24, 32, 48, 64];
    let cells: Vec<(u64, Look)> = [0u64, 3, 42, 100]
        .iter()
        .flat_map(|&n| {
            [
                Look::Connected,
                Look::Connecting,
                Look::Offline,
                Look::Problem,
            ]
            .into_iter()
            .map(move |l| (n, l))
        })
        .collect();
    let zoom = 4u32;
    let cell = 64 * zoom + 8;
    let (w, h) = (cell * cells.len() as u32 / 2, cell * sizes.len() as u32 * 2);
    let mut img = vec![0x3Cu8; (w * h * 4) as usize];
    for (row, &size) in sizes.iter().enumerate() {
        for (col, &(n, look)) in cells.iter().enumerate() {
            let px = render(size, n, look);
            let (cx, cy) = (
                (col as u32 % 8) * cell,
                (row as u32 * 2 + col as u32 / 8) * cell,
            );
            for y in 0..size * zoom {
                for x in 0..size * zoom {
                    let i = (((y / zoom) * size + x / zoom) * 4) as usize;
                    let a = u32::from(px[i + 3]);
                    let o = (((cy + y) * w + cx + x) * 4) as usize;
                    for c in 0..3 {
                        img[o + c] = ((u32::from(px[i + c]) * a + 0x3C * (255 - a)) / 255) as u8;
                    }
                    img[o + 3] = 255;
                }
            }
        }
    }
    let file = std::fs::File::create(path)?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgba);
    enc.write_header()?.write_image_data(&img)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, path] = args.as_slice() {
        if flag == "--preview" {
            return preview(path);
        }
    }
    for (size, name) in [
        (16, "16x16.png"),
        (22, "22x22.png"),
        (24, "24x24.png"),
        (32, "32x32.png"),
        (48, "48x48.png"),
        (64, "64x64.png"),
        (128, "128x128.png"),
        (256, "256x256.png"),
        (256, "icon.png"),
    ] {
        let rgba = render(size, 0, Look::Connected);
        let file = std::fs::File::create(format!("icons/{name}"))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), size, size);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()?.write_image_data(&rgba)?;
        println!("icons/{name}");
    }
    Ok(())
}
