//! The admin's small chart of an object's daily hits: inline SVG, one bar
//! a day, drawn from numbers only (nothing in it comes from visitors).

use std::fmt::Write;

use hitcount::DayHits;

const BAR: u32 = 6;
const GAP: u32 = 2;
const HEIGHT: u32 = 40;

/// An SVG bar chart of `days`, oldest first; each bar's tooltip gives the
/// day and its hits.
///
/// ```
/// # use example_project::chart::daily_chart;
/// let svg = daily_chart(&[]);
/// assert!(svg.starts_with("<svg"));
/// ```
pub fn daily_chart(days: &[DayHits]) -> String {
    let most = days.iter().map(|d| d.hits).max().unwrap_or(0).max(1);
    let width = days.len() as u32 * (BAR + GAP);
    let mut svg = format!(
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" viewBox="0 0 {width} {HEIGHT}" role="img" aria-label="daily hits, last {} days">"#,
        days.len()
    );
    for (i, day) in days.iter().enumerate() {
        // At least one pixel, so that an empty day still shows on the axis.
        let height = ((day.hits as f64 / most as f64) * f64::from(HEIGHT - 1)).round() as u32 + 1;
        let x = i as u32 * (BAR + GAP);
        let y = HEIGHT - height;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{y}" width="{BAR}" height="{height}"><title>{}: {} hits</title></rect>"#,
            day.day, day.hits
        );
    }
    svg.push_str("</svg>");
    svg
}
