import Memory

/// A fine-tuning run as one self-contained HTML5 page (see `PageHTML`), beside the memory profile's: the verdict and
/// its flags, the summary figures, a chart per curve (losses, learning rate, memory, tokens/s, the objective's own
/// figures), the plan and the run's settings and figures.
public enum RunReportHTML: PageHTML {
  /// The whole page for `document`.
  public static func render(_ document: RunReportDocument) -> String {
    let title = document.title.isEmpty ? "Fine-tuning run" : document.title
    var body = header(title: title, command: document.subtitle)
    body += summary(document)
    for chart in document.charts { body += chartSection(chart) }
    body += planTable(document.plan, plannedPeak: document.plannedPeak)
    body += figureTable(document.figures)
    return page(title: title, body: body)
  }

  /// The verdict (a warning when the run broke its budget), its flags, and the grid of summary figures.
  static func summary(_ document: RunReportDocument) -> String {
    var out = "<p class=\"verdict \(document.alarming ? "over" : "fits")\">\(escape(document.verdict))</p>\n"
    if !document.flags.isEmpty {
      out += "<ul class=\"flags\">\n" + document.flags.map { "<li>\(escape($0))</li>\n" }.joined() + "</ul>\n"
    }
    guard !document.cards.isEmpty else { return out }
    return out + "<dl class=\"summary\">\n" + document.cards.map { card($0.term, $0.value, note: $0.note) }.joined()
      + "</dl>\n"
  }
}
