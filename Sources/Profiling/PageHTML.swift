/// What the memory-profile page (`ProfileHTML`) and the run page (`RunReportHTML`) are built from: the page's frame,
/// escaping, summary cards, tables, SVG primitives and axes, and one style sheet.
///
/// A protocol rather than a namespace so that each page's renderer, itself a namespace enum, calls these unqualified,
/// as it calls its own parts. Both pages are self-contained: no JavaScript and nothing fetched (fonts, styles, images),
/// so they can be attached to a CI run or mailed and still open offline. Every element is closed (`<meta ... />`), so
/// the pages also parse as XML, which the tests rely on.
protocol PageHTML {}

extension PageHTML {
  /// The whole page: `body` (already HTML) inside `<main>`, under `title` and the style sheet.
  static func page(title: String, body: String) -> String {
    var page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n"
    page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n"
    page += "<meta name=\"generator\" content=\"EdgeTune\" />\n"
    page += "<title>\(escape(title))</title>\n<style>\n\(styleSheet)</style>\n</head>\n<body>\n<main>\n"
    return page + body + "</main>\n</body>\n</html>\n"
  }

  /// `text` safe inside element content and double- or single-quoted attribute values.
  static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text {
      switch character {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(character)
      }
    }
    return out
  }

  /// The title and, when there is one, the command line (or another line of context) under it.
  static func header(title: String, command: String) -> String {
    var out = "<header>\n<h1>\(escape(title))</h1>\n"
    if !command.isEmpty { out += "<p class=\"command\"><code>\(escape(command))</code></p>\n" }
    return out + "</header>\n"
  }

  /// One figure of the summary grid: what it is, its value, and a note under it.
  static func card(_ term: String, _ value: String, note: String) -> String {
    "<div><dt>\(escape(term))</dt><dd>\(escape(value))</dd><dd class=\"note\">\(escape(note))</dd></div>\n"
  }
}
