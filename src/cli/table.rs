//! Output helpers shared by the admin subcommands: aligned tables (comfy-table, borderless, two
//! spaces between columns) and UTC times.

use comfy_table::Table;
use comfy_table::presets::NOTHING;

/// Prints `rows` under `headers`, each column as wide as its widest cell.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    for line in table_lines(headers, rows) {
        println!("{line}");
    }
}

/// The lines [`print_table`] prints, without trailing blanks.
fn table_lines(headers: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut table = Table::new();
    table.load_preset(NOTHING);
    table.set_header(headers.to_vec());
    for row in rows {
        table.add_row(row.clone());
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
        .lines()
        .map(|line| line.trim_end().to_string())
        .collect()
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the Unix epoch.
pub fn utc(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        // Beyond the years 9999 BC..AD 9999: the number as it is.
        Err(_) => format!("{secs} (Unix time)"),
    }
}

#[cfg(test)]
mod tests {
    use super::{table_lines, utc};

    #[test]
    fn columns_are_padded_to_the_widest_cell_two_spaces_apart() {
        let rows = vec![
            vec!["  x-Name".to_string(), "vm-01".to_string(), String::new()],
            vec![
                "  a".to_string(),
                "longer value".to_string(),
                "-".to_string(),
            ],
        ];
        assert_eq!(
            table_lines(&["  NAME", "VALUE", "X"], &rows),
            [
                "  NAME    VALUE         X",
                "  x-Name  vm-01",
                "  a       longer value  -",
            ]
        );
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_798_761_599), "2026-12-31 23:59:59 UTC");
    }
}
