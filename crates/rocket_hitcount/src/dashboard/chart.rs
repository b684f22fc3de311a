//! The dashboard's charts, as inline SVG drawn from numbers and dates only
//! (nothing a visitor sent), with attributes rather than style, so that a
//! Content-Security-Policy without `'unsafe-inline'` draws them.

use std::fmt::Write;

use chrono::NaiveDate;

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The length of a bar for `value` on a scale whose longest bar is
/// `most`, in percent: every bar of a list on one scale, at least a sliver
/// for a value above zero.
pub(crate) fn share(value: i64, most: i64) -> f64 {
    if most <= 0 || value <= 0 {
        return 0.0;
    }
    (value as f64 / most as f64 * 100.0).max(0.5)
}

/// A horizontal bar `percent` long.
pub(crate) fn bar(percent: f64) -> String {
    format!(
        r#"<svg class="bar" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true" focusable="false"><rect class="track" width="100" height="6"/><rect class="fill" width="{percent:.1}" height="6"/></svg>"#
    )
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 18.0;
const BOTTOM: f64 = 24.0;
/// Up to this many days, each bar carries its value.
const LABELLED_DAYS: usize = 14;

/// The daily chart of hits: one bar a day on a dated axis, the maximum
/// labelled, each bar's value written on it for short periods and in its
/// tooltip always. `summary` names the chart for screen readers, which
/// also get the table the page prints beside it.
pub(crate) fn daily(days: &[(NaiveDate, i64)], summary: &str) -> String {
    let most = days.iter().map(|d| d.1).max().unwrap_or(0);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / days.len().max(1) as f64;
    let gap = (step * 0.2).min(4.0);
    let base = TOP + plot_h;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{summary}"><title>{summary}</title>"#,
    );
    // The axes, the maximum's gridline and its label.
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{base}" x2="{x2}" y2="{base}"/><line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}"/><text class="tick" x="{lx}" y="{by}" text-anchor="end">0</text>"#,
        x2 = WIDTH - RIGHT,
        lx = LEFT - 6.0,
        by = base + 4.0,
    );
    if most > 0 {
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{x2}" y2="{TOP}"/><text class="tick" x="{lx}" y="{ty}" text-anchor="end">{max}</text>"#,
            x2 = WIDTH - RIGHT,
            lx = LEFT - 6.0,
            ty = TOP + 4.0,
            max = thousands(most),
        );
    }
    for (i, &(date, hits)) in days.iter().enumerate() {
        let x = LEFT + i as f64 * step + gap / 2.0;
        let h = if most > 0 {
            hits as f64 / most as f64 * plot_h
        } else {
            0.0
        };
        let y = base - h;
        let _ = write!(
            svg,
            r#"<rect class="day" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}"><title>{date}: {hits} hits</title></rect>"#,
            w = (step - gap).max(1.0),
            hits = thousands(hits),
        );
        if days.len() <= LABELLED_DAYS && hits > 0 {
            let _ = write!(
                svg,
                r#"<text class="value" x="{cx:.1}" y="{ty:.1}" text-anchor="middle">{hits}</text>"#,
                cx = x + (step - gap) / 2.0,
                ty = y - 4.0,
                hits = thousands(hits),
            );
        }
    }
    // Dates under the first, middle and last bars.
    let mut marks = vec![0, days.len().saturating_sub(1)];
    if days.len() > 2 {
        marks.insert(1, days.len() / 2);
    }
    marks.dedup();
    for (n, &i) in marks.iter().enumerate() {
        let Some((day, _)) = days.get(i) else { continue };
        let anchor = match (n, marks.len()) {
            (0, _) => "start",
            (n, len) if n + 1 == len => "end",
            _ => "middle",
        };
        let x = match anchor {
            "start" => LEFT + i as f64 * step,
            "end" => LEFT + (i + 1) as f64 * step,
            _ => LEFT + (i as f64 + 0.5) * step,
        };
        let _ = write!(
            svg,
            r#"<text class="tick" x="{x:.1}" y="{y}" text-anchor="{anchor}">{date}</text>"#,
            y = HEIGHT - 6.0,
            date = day.format("%b %-d"),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1234567, "1,234,567"),
            (-12345, "-12,345"),
            (i64::MIN, "-9,223,372,036,854,775,808"),
        ] {
            assert_eq!(thousands(n), text);
        }
    }

    #[test]
    fn bars_share_one_scale() {
        assert_eq!(share(2, 8), 25.0);
        assert_eq!(share(4, 8), 50.0);
        assert_eq!(share(8, 8), 100.0);
        assert_eq!(share(0, 8), 0.0);
        assert_eq!(share(1, 1_000_000), 0.5, "a value above zero shows");
        assert_eq!(share(3, 0), 0.0);
        assert!(bar(25.0).contains(r#"class="fill" width="25.0""#));
    }

    #[test]
    fn the_daily_chart_has_dated_axes_and_its_maximum() {
        let day = |d: u32, hits: i64| (NaiveDate::from_ymd_opt(2026, 3, d).unwrap(), hits);
        let svg = daily(&[day(1, 2), day(2, 1500), day(3, 0)], "Hits per day");
        assert!(svg.contains(">1,500</text>"), "the maximum is labelled: {svg}");
        for date in ["Mar 1", "Mar 2", "Mar 3"] {
            assert!(svg.contains(&format!(">{date}</text>")), "{date}: {svg}");
        }
        assert!(svg.contains("<title>2026-03-02: 1,500 hits</title>"));
        assert!(!svg.contains("style="), "no inline style");
        // The tallest bar spans the plot; the others are to scale.
        assert!(svg.contains(r#"height="138.0""#), "{svg}");
        let empty = daily(&[day(1, 0)], "Hits per day");
        assert!(!empty.contains("NaN"));
    }
}
