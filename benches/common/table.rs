//! The summary tables: rows of an ndlog figure beside its limit, printed as Markdown.

/// What an issue target asks of a row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// The ratio must be at least this.
    Ratio(f64),
    /// The figure itself must be at least this.
    #[allow(dead_code, reason = "the scan bench sets no such target")]
    AtLeast(f64),
}

/// How a figure is printed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Unit {
    /// Records per second.
    #[allow(dead_code, reason = "the scan bench reports bytes only")]
    Records,
    /// Bytes per second, printed in GB/s (10^9).
    #[allow(dead_code, reason = "the append bench reports records only")]
    Bytes,
}

/// One line of a summary: an ndlog figure beside what it is compared with.
pub(crate) struct Row {
    pub case: String,
    pub value: f64,
    pub versus: String,
    pub limit: f64,
    pub unit: Unit,
    pub target: Option<Target>,
    /// The ratio to show, when it is not `value / limit`: an alternating pair's median of its
    /// rounds' ratios ([`super::alternating::Paired`]).
    pub ratio: Option<f64>,
}

pub(crate) fn fmt_rate(x: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => format!("{:.2} GB/s", x / 1e9),
        Unit::Records if x >= 1e6 => format!("{:.2} M/s", x / 1e6),
        Unit::Records if x >= 1e3 => format!("{:.1} k/s", x / 1e3),
        Unit::Records => format!("{x:.0} /s"),
    }
}

/// Three significant digits, truncated rather than rounded, so that a ratio just under a target
/// never prints as the target.
pub(crate) fn fmt_ratio(x: f64) -> String {
    let decimals = match x {
        x if x >= 100.0 => 0,
        x if x >= 10.0 => 1,
        x if x >= 1.0 => 2,
        _ => 3,
    };
    let scale = 10f64.powi(decimals);
    format!("{:.*}", decimals as usize, (x * scale).floor() / scale)
}

/// Prints rows as a Markdown table (ready to paste into BENCHMARKS.md).
pub(crate) fn print_table(title: &str, rows: &[Row]) {
    println!("\n## {title}\n");
    println!("| case | ndlog | compared with | limit | ratio | target |");
    println!("| --- | ---: | --- | ---: | ---: | --- |");
    for r in rows {
        let ratio = r.ratio.unwrap_or(r.value / r.limit);
        let target = match r.target {
            None => String::new(),
            Some(Target::Ratio(t)) => {
                format!("≥ {t}×: {}", if ratio >= t { "met" } else { "MISSED" })
            }
            Some(Target::AtLeast(t)) => format!(
                "≥ {}: {}",
                fmt_rate(t, r.unit),
                if r.value >= t { "met" } else { "MISSED" }
            ),
        };
        println!(
            "| {} | {} | {} | {} | {}× | {} |",
            r.case,
            fmt_rate(r.value, r.unit),
            r.versus,
            fmt_rate(r.limit, r.unit),
            fmt_ratio(ratio),
            target
        );
    }
    println!();
}
