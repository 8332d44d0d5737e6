//! Plain-text tables for `list` and `ps`: columns padded to their widest
//! cell, trailing blanks trimmed.

/// `rows` (the header first) as lines, cells joined by `gap`.
pub fn format<const N: usize>(rows: &[[String; N]], gap: &str) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join(gap).trim_end());
        out.push('\n');
    }
    out
}
