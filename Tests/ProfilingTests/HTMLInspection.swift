import Foundation

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Small checks on rendered pages: that they parse, which numbers their SVG attributes hold, what one element holds.
enum HTMLInspection {
  /// What is wrong with `page` as either page must be: an HTML5 document that parses as XML, every element closed in
  /// order, no "nan" or "inf" anywhere and only finite numbers in SVG geometry. Empty when nothing is.
  static func problems(_ page: String) -> [String] {
    var problems: [String] = []
    if !page.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">") { problems.append("not an HTML5 document") }
    if let error = xmlError(page) { problems.append("not well-formed XML: \(error)") }
    let balance = tagBalance(page)
    if !balance.balanced { problems.append("elements closed out of order") }
    if balance.opened.filter({ $0 == "svg" }).count != count("</svg>", in: page) {
      problems.append("an unclosed <svg>")
    }
    problems += nonFiniteWords(page).map { "the word \($0)" }
    for value in geometryValues(page) where !isNumeric(value) {
      problems.append("geometry attribute \"\(value.prefix(80))\" is not a list of finite numbers")
    }
    return problems
  }

  /// The parser's error, or nil when `page` is well-formed XML (the renderer closes every element, so it must be).
  static func xmlError(_ page: String) -> String? {
    let parser = XMLParser(data: Data(page.utf8))
    let ok = parser.parse()
    return ok ? nil : String(describing: parser.parserError)
  }

  /// Element names in order of their start tags, and whether every end tag matched the innermost open element.
  static func tagBalance(_ page: String) -> (opened: [String], balanced: Bool) {
    let void: Set = ["meta", "br", "img", "input", "link", "hr"]
    var stack: [String] = []
    var opened: [String] = []
    for match in page.matches(of: #/<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>/#) {
      let name = String(match.output.2).lowercased()
      if match.output.1 == "/" {
        guard stack.last == name else { return (opened, false) }
        stack.removeLast()
      } else {
        opened.append(name)
        if !match.output.3.hasSuffix("/") && !void.contains(name) { stack.append(name) }
      }
    }
    return (opened, stack.isEmpty)
  }

  /// Every value of a geometric SVG attribute (x, y, width, points, cx, r, ...) in `page`.
  static func geometryValues(_ page: String) -> [String] {
    let pattern = #/ (x|y|x1|x2|y1|y2|cx|cy|r|width|height|points|stroke-width|viewBox)="([^"]*)"/#
    return page.matches(of: pattern).map { String($0.output.2) }
  }

  /// Whether `value` is nothing but numbers, separated by spaces or commas.
  static func isNumeric(_ value: String) -> Bool {
    !value.isEmpty && value.allSatisfy { $0.isNumber || $0 == "." || $0 == "-" || $0 == "," || $0 == " " }
      && value.split(whereSeparator: { $0 == "," || $0 == " " }).allSatisfy { Double($0)?.isFinite == true }
  }

  /// The words "nan", "inf" or "infinity" anywhere, as a float printer would write them.
  static func nonFiniteWords(_ page: String) -> [String] {
    page.matches(of: #/(?i)\b(-?nan|-?inf|-?infinity)\b/#).map { String($0.output.0) }
  }

  /// The text between the start tag carrying `id` and the next end tag named `element` (elements here do not nest).
  static func element(_ element: String, id: String, in page: String) -> String? {
    guard let start = page.range(of: "id=\"\(id)\"") else { return nil }
    guard let end = page.range(of: "</\(element)>", range: start.upperBound..<page.endIndex) else { return nil }
    return String(page[start.upperBound..<end.lowerBound])
  }

  /// How often `needle` occurs in `text`.
  static func count(_ needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
  }
}
