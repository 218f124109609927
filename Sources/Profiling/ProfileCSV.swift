public import Memory

/// A profile's samples as CSV, one row per sample, for spreadsheets and plotting scripts.
///
/// Columns: `seconds,phase,rss_bytes,rss_anon_bytes,rss_file_bytes,hwm_bytes,ledger_bytes`, then `ledger:LABEL` for
/// every ledger label seen in any sample (sorted; 0 where a sample lacks it). Fields holding a comma, a double quote
/// or a line break are quoted as RFC 4180 says; rows end in "\n".
/// ref: RFC 4180, "Common Format and MIME Type for Comma-Separated Values (CSV) Files", section 2.
public enum ProfileCSV {
  static let fixedColumns = [
    "seconds", "phase", "rss_bytes", "rss_anon_bytes", "rss_file_bytes", "hwm_bytes", "ledger_bytes",
  ]

  /// The header line and one line per sample, in the order given.
  public static func render(_ samples: [MemorySample]) -> String {
    let labels = Set(samples.flatMap(\.ledgerByLabel.keys)).sorted()
    var out = row(fixedColumns + labels.map { "ledger:" + $0 })
    for sample in samples {
      var fields = [
        seconds(sample.seconds), sample.phase, "\(sample.rss)", "\(sample.rssAnon)", "\(sample.rssFile)",
        "\(sample.hwm)", "\(sample.ledger)",
      ]
      fields += labels.map { "\(sample.ledgerByLabel[$0] ?? 0)" }
      out += row(fields)
    }
    return out
  }

  static func row(_ fields: [String]) -> String {
    fields.map(quoted).joined(separator: ",") + "\n"
  }

  /// `field` as is, or in double quotes with inner quotes doubled when it holds a comma, quote or line break.
  static func quoted(_ field: String) -> String {
    guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else {
      return field
    }
    var out = "\""
    for character in field {
      out += character == "\"" ? "\"\"" : String(character)
    }
    return out + "\""
  }

  /// Seconds as Swift prints a Double ("0.25", "12.0"); empty for NaN or infinity, which no spreadsheet reads.
  static func seconds(_ value: Double) -> String {
    value.isFinite ? "\(value)" : ""
  }
}
