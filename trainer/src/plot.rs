//! Small line, scatter and bar charts rendered to PNG in pure Rust (own rasteriser with a
//! built-in 5×7 pixel font, `png` for encoding), so reports build offline with no system fonts.

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// Points joined by lines.
    Line,
    /// Unjoined points.
    Points,
    /// Vertical bars (series side by side at each x).
    Bars,
}

/// One data series.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
    /// RGB colour.
    pub color: [u8; 3],
    /// Drawing style.
    pub style: Style,
}

/// A chart: title, axis labels and series.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label above the y axis.
    pub y_label: String,
    /// Series, drawn in order.
    pub series: Vec<Series>,
    /// Start the y axis at 0.
    pub y_from_zero: bool,
}

/// Series colours (colour-blind-friendly Okabe-Ito).
pub const PALETTE: [[u8; 3]; 6] = [
    [0, 114, 178],
    [213, 94, 0],
    [0, 158, 115],
    [204, 121, 167],
    [230, 159, 0],
    [86, 180, 233],
];

const W: usize = 900;
const H: usize = 540;
const LEFT: usize = 100;
const RIGHT: usize = 30;
const TOP: usize = 60;
const BOTTOM: usize = 70;
const SCALE: usize = 2;

struct Canvas {
    rgb: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Canvas {
            rgb: vec![255; W * H * 3],
        }
    }
    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < W && (y as usize) < H {
            let o = (y as usize * W + x as usize) * 3;
            self.rgb[o..o + 3].copy_from_slice(&c);
        }
    }
    fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        for y in y0.min(y1)..=y0.max(y1) {
            for x in x0.min(x1)..=x0.max(x1) {
                self.set(x, y, c);
            }
        }
    }
    /// A line `thick` pixels wide (a square brush along Bresenham's path).
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3], thick: i64) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        let r = thick / 2;
        loop {
            self.rect(x - r, y - r, x - r + thick - 1, y - r + thick - 1, c);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }
    fn dot(&mut self, x: i64, y: i64, c: [u8; 3], r: i64) {
        for yy in -r..=r {
            for xx in -r..=r {
                if xx * xx + yy * yy <= r * r {
                    self.set(x + xx, y + yy, c);
                }
            }
        }
    }
}

/// Text with its top-left corner at (x, y).
fn draw_text(cv: &mut Canvas, x: i64, y: i64, text: &str, c: [u8; 3]) {
    let s = SCALE as i64;
    let mut cx = x;
    for ch in text.chars() {
        let rows = glyph(ch);
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    cv.rect(
                        cx + col * s,
                        y + r as i64 * s,
                        cx + col * s + s - 1,
                        y + r as i64 * s + s - 1,
                        c,
                    );
                }
            }
        }
        cx += 6 * s;
    }
}

fn text_width(text: &str) -> i64 {
    (text.chars().count() * 6 * SCALE) as i64
}

/// Rows of a 5×7 glyph, bit 4 = leftmost column. Lower case is drawn as upper case.
fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '@' => [0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        ' ' => [0; 7],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

/// Up to about `n` round tick values covering [lo, hi].
/// With `integer`, steps are whole numbers (for counts such as k or iterations).
pub fn ticks(lo: f64, hi: f64, n: usize, integer: bool) -> Vec<f64> {
    let span = (hi - lo).abs().max(1e-12);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .filter(|s| !integer || (*s >= 1.0 && s.fract() == 0.0))
        .find(|s| span / s <= n as f64)
        .unwrap_or(if integer {
            (10.0 * mag).max(1.0)
        } else {
            10.0 * mag
        });
    let first = (lo / step).ceil() as i64;
    let mut out = Vec::new();
    let mut j = first;
    while (j as f64) * step <= hi + step * 1e-9 {
        out.push(j as f64 * step);
        j += 1;
    }
    out
}

/// A tick label with as many decimals as the step needs.
pub fn fmt_tick(v: f64, step: f64) -> String {
    let d = (0..8).find(|&d| {
        let m = step.abs() * 10f64.powi(d);
        (m - m.round()).abs() < 1e-6
    });
    let d = d.unwrap_or(8) as usize;
    format!("{v:.d$}")
}

/// The data ranges a chart shows and the mapping from data to pixels.
struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    has_bars: bool,
}

impl Frame {
    /// Plot width and height in pixels.
    fn size() -> (f64, f64) {
        ((W - LEFT - RIGHT) as f64, (H - TOP - BOTTOM) as f64)
    }

    fn px(&self, x: f64) -> i64 {
        (LEFT as f64 + (x - self.x0) / (self.x1 - self.x0) * Self::size().0).round() as i64
    }

    fn py(&self, y: f64) -> i64 {
        (TOP as f64 + (self.y1 - y) / (self.y1 - self.y0) * Self::size().1).round() as i64
    }
}

const GREY: [u8; 3] = [225, 225, 225];
const INK: [u8; 3] = [40, 40, 40];

impl Chart {
    /// Renders the chart as PNG bytes.
    pub fn png(&self) -> Vec<u8> {
        let mut cv = Canvas::new();
        let frame = self.frame();
        self.draw_grid(&mut cv, &frame);
        self.draw_series(&mut cv, &frame);
        self.draw_labels(&mut cv);
        encode_png(&cv.rgb, W as u32, H as u32)
    }

    fn points(&self) -> impl Iterator<Item = &(f64, f64)> {
        self.series.iter().flat_map(|s| s.points.iter())
    }

    /// The ranges: the data's, widened for bars, from zero where asked, never empty, with a
    /// margin above (and below unless from zero).
    fn frame(&self) -> Frame {
        let has_bars = self.series.iter().any(|s| s.style == Style::Bars);
        let (mut x0, mut x1) = self
            .points()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.0), b.max(p.0))
            });
        let (mut y0, mut y1) = self
            .points()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1), b.max(p.1))
            });
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if has_bars {
            x0 -= 0.5;
            x1 += 0.5;
        }
        if self.y_from_zero || has_bars {
            y0 = y0.min(0.0);
        }
        if x1 - x0 < 1e-12 {
            (x0, x1) = (x0 - 1.0, x1 + 1.0);
        }
        if y1 - y0 < 1e-12 {
            (y0, y1) = (y0 - 0.5 * y0.abs().max(1e-3), y1 + 0.5 * y1.abs().max(1e-3));
        }
        let pad = (y1 - y0) * 0.05;
        y1 += pad;
        if !(self.y_from_zero || has_bars) {
            y0 -= pad;
        }
        Frame {
            x0,
            x1,
            y0,
            y1,
            has_bars,
        }
    }

    /// Grid lines with their tick labels, and the axes.
    fn draw_grid(&self, cv: &mut Canvas, f: &Frame) {
        let yt = ticks(f.y0, f.y1, 6, false);
        let ystep = if yt.len() > 1 { yt[1] - yt[0] } else { 1.0 };
        for &t in &yt {
            cv.line(
                (LEFT as i64, f.py(t)),
                ((W - RIGHT) as i64, f.py(t)),
                GREY,
                1,
            );
            let label = fmt_tick(t, ystep);
            draw_text(
                cv,
                LEFT as i64 - 10 - text_width(&label),
                f.py(t) - 7,
                &label,
                INK,
            );
        }
        let integer_x = self.points().all(|p| p.0.fract() == 0.0);
        let xt = if f.has_bars {
            (f.x0.ceil() as i64..=f.x1.floor() as i64)
                .map(|v| v as f64)
                .collect()
        } else {
            ticks(f.x0, f.x1, 8, integer_x)
        };
        let xstep = if xt.len() > 1 { xt[1] - xt[0] } else { 1.0 };
        for &t in &xt {
            cv.line(
                (f.px(t), TOP as i64),
                (f.px(t), (H - BOTTOM) as i64),
                GREY,
                1,
            );
            let label = fmt_tick(t, xstep);
            let x = f.px(t) - text_width(&label) / 2;
            draw_text(cv, x, (H - BOTTOM) as i64 + 10, &label, INK);
        }
        let (left, bottom) = (LEFT as i64, (H - BOTTOM) as i64);
        cv.line((left, TOP as i64), (left, bottom), INK, 2);
        cv.line((left, bottom), ((W - RIGHT) as i64, bottom), INK, 2);
    }

    /// Every series in its style; bars of several series sit side by side in each slot.
    fn draw_series(&self, cv: &mut Canvas, f: &Frame) {
        let bar_series: Vec<usize> = (0..self.series.len())
            .filter(|&i| self.series[i].style == Style::Bars)
            .collect();
        let slot = Frame::size().0 / (f.x1 - f.x0) * 0.8;
        for (si, s) in self.series.iter().enumerate() {
            match s.style {
                Style::Line => {
                    for w in s.points.windows(2) {
                        let (a, b) = ((f.px(w[0].0), f.py(w[0].1)), (f.px(w[1].0), f.py(w[1].1)));
                        cv.line(a, b, s.color, 3);
                    }
                    for p in &s.points {
                        cv.dot(f.px(p.0), f.py(p.1), s.color, 3);
                    }
                }
                Style::Points => {
                    for p in &s.points {
                        cv.dot(f.px(p.0), f.py(p.1), s.color, 4);
                    }
                }
                Style::Bars => {
                    let j = bar_series.iter().position(|&b| b == si).unwrap_or(0) as f64;
                    let width = slot / bar_series.len().max(1) as f64;
                    for p in &s.points {
                        let left = f.px(p.0) as f64 - slot / 2.0 + j * width;
                        let right = (left + width).round() as i64 - 2;
                        cv.rect(
                            left.round() as i64,
                            f.py(p.1),
                            right,
                            f.py(f.y0.max(0.0)),
                            s.color,
                        );
                    }
                }
            }
        }
    }

    /// Title, axis labels and the legend of the named series.
    fn draw_labels(&self, cv: &mut Canvas) {
        draw_text(
            cv,
            (W as i64 - text_width(&self.title)) / 2,
            14,
            &self.title,
            INK,
        );
        draw_text(cv, LEFT as i64 - 80, TOP as i64 - 28, &self.y_label, INK);
        let x = (LEFT + (W - LEFT - RIGHT) / 2) as i64 - text_width(&self.x_label) / 2;
        draw_text(cv, x, H as i64 - 30, &self.x_label, INK);
        let mut ly = TOP as i64 + 10;
        let widest = self
            .series
            .iter()
            .map(|s| text_width(&s.name))
            .max()
            .unwrap_or(0);
        let lx = (W - RIGHT) as i64 - 10 - widest - 30;
        let named = self.series.iter().filter(|s| !s.name.is_empty()).count() as i64;
        if named > 0 {
            let right = (W - RIGHT) as i64;
            cv.rect(
                lx - 8,
                ly - 6,
                right - 4,
                ly + 22 * named - 4,
                [200, 200, 200],
            );
            cv.rect(
                lx - 7,
                ly - 5,
                right - 5,
                ly + 22 * named - 5,
                [255, 255, 255],
            );
        }
        for s in self.series.iter().filter(|s| !s.name.is_empty()) {
            cv.rect(lx, ly + 2, lx + 18, ly + 11, s.color);
            draw_text(cv, lx + 26, ly, &s.name, INK);
            ly += 22;
        }
    }
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().expect("in-memory PNG header");
        writer.write_image_data(rgb).expect("in-memory PNG data");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        let t = ticks(0.0, 1.0, 5, false);
        assert_eq!(t.len(), 6);
        assert!(
            t.iter()
                .zip([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
                .all(|(a, b)| (a - b).abs() < 1e-12),
            "{t:?}"
        );
        assert_eq!(ticks(1.0, 20.0, 4, true), vec![5.0, 10.0, 15.0, 20.0]);
        // 2.5 is not a whole step: with integers, 5 covers 1..20 in at most 8 ticks, 2 in 10.
        assert_eq!(ticks(1.0, 20.0, 8, true), vec![5.0, 10.0, 15.0, 20.0]);
        assert_eq!(
            ticks(1.0, 20.0, 10, true),
            vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
        );
        assert!(ticks(1.0, 20.0, 8, false).contains(&2.5));
        assert_eq!(fmt_tick(0.25, 0.05), "0.25");
        assert_eq!(fmt_tick(0.4, 0.2), "0.4");
        assert_eq!(fmt_tick(15.0, 5.0), "15");
    }

    /// The PNG decodes to the right size, and the series colour is really drawn.
    #[test]
    fn png_decodes_and_shows_the_series() {
        let chart = Chart {
            title: "Test".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series {
                name: "a".into(),
                points: vec![(1.0, 1.0), (2.0, 3.0), (3.0, 2.0)],
                color: PALETTE[1],
                style: Style::Line,
            }],
            y_from_zero: false,
        };
        let bytes = chart.png();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (W as u32, H as u32));
        let coloured = buf.chunks(3).filter(|p| p == &PALETTE[1]).count();
        assert!(coloured > 500, "{coloured} pixels of the series colour");
    }
}
