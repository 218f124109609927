import Formats
import Foundation
import Training

/// `--profile NAME`: a device/run preset from Profiles/NAME.json, expanded into command-line options placed before the
/// user's own, so anything given explicitly still wins (for single-value options the last occurrence counts).
///
/// A preset holds a budget, a thread count and default options per verb:
/// `{"description": "...", "budget": "480MiB", "threads": 4, "optimizer_state": "disk:/var/tmp/edgetune",
///   "options": {"train": {"seq-len": 256, "rank": 8}, "generate": {"max-tokens": 256}}}`.
/// `train` options apply to `train lora`, `plan` and `profile`. `optimizer_state` becomes their `--optimizer-state`
/// (`"numa": NODE` is shorthand for `"optimizer_state": "numa:NODE"`).
enum ProfilePresets {
  struct Preset {
    var name: String
    var path: String
    var description: String
    var budget: String?
    var threads: Int?
    var optimizerState: String?
    var options: [String: [String: JSONValue]]
  }

  /// Verbs that take --budget and --threads, and the options section each reads.
  static let sections: [String: String] = [
    "train": "train", "plan": "train", "profile": "train", "generate": "generate", "eval": "eval", "convert": "convert",
  ]

  /// The arguments with `--profile NAME` (or `--profile=NAME`) replaced by the preset's options.
  static func expand(_ arguments: [String]) throws -> [String] {
    guard let index = arguments.firstIndex(where: { $0 == "--profile" || $0.hasPrefix("--profile=") }) else {
      return arguments
    }
    var rest = arguments
    let name: String
    if arguments[index] == "--profile" {
      guard index + 1 < arguments.count else { throw InputError("--profile needs a name (see Profiles/README.md)") }
      name = arguments[index + 1]
      rest.removeSubrange(index...(index + 1))
    } else {
      name = String(arguments[index].dropFirst("--profile=".count))
      rest.remove(at: index)
    }
    guard let verb = rest.first, let section = sections[verb] else {
      throw InputError("--profile applies to train lora, plan, profile, generate, eval and convert")
    }
    let preset = try load(name)
    // Insert after the verb path ("train lora" is two words).
    let insertAt = verb == "train" && rest.count > 1 && !rest[1].hasPrefix("-") ? 2 : 1
    rest.insert(contentsOf: Self.arguments(of: preset, section: section), at: min(insertAt, rest.count))
    return rest
  }

  /// The options a preset stands for in a verb's section, in a stable order.
  static func arguments(of preset: Preset, section: String) -> [String] {
    var out: [String] = []
    if let budget = preset.budget { out += ["--budget", budget] }
    if let threads = preset.threads { out += ["--threads", String(threads)] }
    if let state = preset.optimizerState, section == "train" { out += ["--optimizer-state", state] }
    for (key, value) in (preset.options[section] ?? [:]).sorted(by: { $0.key < $1.key }) {
      // JSON true/false are flags; anything else is the option's value.
      switch value {
      case .bool(true): out.append("--" + key)
      case .bool(false): break
      case .string(let text): out += ["--" + key, text]
      default: out += ["--" + key, value.description]
      }
    }
    return out
  }

  /// Finds and decodes a preset: a path to a .json file, or a name looked up in $EDGETUNE_PROFILES, in a Profiles/
  /// folder above the executable (a source checkout) and in ./Profiles.
  static func load(_ name: String) throws -> Preset {
    let path = try locate(name)
    let data = try InputFile.read(path, what: "profile")
    guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: data) else {
      throw InputError("profile \(path) is not a JSON object")
    }
    let known: Set<String> = ["description", "budget", "threads", "optimizer_state", "numa", "options"]
    if let unknown = object.keys.first(where: { !known.contains($0) }) {
      throw InputError("profile \(path): unknown key \"\(unknown)\" (known: \(known.sorted().joined(separator: ", ")))")
    }
    var preset = Preset(
      name: name, path: path, description: object["description"]?.string ?? "", budget: nil, threads: nil,
      optimizerState: nil, options: [:])
    if let budget = object["budget"] {
      guard let text = budget.string else {
        throw InputError("profile \(path): budget must be a string like \"512MiB\"")
      }
      preset.budget = text
    }
    if let threads = object["threads"] {
      guard let count = threads.number, count >= 1, count == count.rounded(), count < 1e6 else {
        throw InputError("profile \(path): threads must be ≥ 1")
      }
      preset.threads = Int(count)
    }
    if let state = object["optimizer_state"] {
      guard let text = state.string, (try? OptimizerStateRequest(parsing: text)) != nil else {
        throw InputError(
          "profile \(path): optimizer_state must be one of \"auto[:DIR]\", \"ram\", \"disk[:DIR]\", \"numa[:NODE]\"")
      }
      preset.optimizerState = text
    }
    if let numa = object["numa"] {
      guard let node = numa.number, node >= 0, node == node.rounded(), node < 1e6 else {
        throw InputError("profile \(path): numa must be a node number (0, 1, …)")
      }
      guard preset.optimizerState == nil || preset.optimizerState == "numa" else {
        throw InputError("profile \(path): give numa or an optimizer_state other than numa, not both")
      }
      preset.optimizerState = "numa:\(Int(node))"
    }
    if let options = object["options"] {
      // Every verb's value must itself be an object of options.
      let sections = options.object?.compactMapValues(\.object)
      guard let sections, sections.count == options.object?.count else {
        throw InputError("profile \(path): options must map a verb (train, generate, eval, convert) to options")
      }
      for key in sections.keys where !Set(Self.sections.values).contains(key) {
        throw InputError("profile \(path): options for unknown verb \"\(key)\"")
      }
      preset.options = sections
    }
    return preset
  }

  static func locate(_ name: String) throws -> String {
    if name.hasSuffix(".json") || name.contains("/") {
      guard FileManager.default.fileExists(atPath: name) else {
        throw InputError("profile file \(name) does not exist")
      }
      return name
    }
    var folders: [String] = []
    if let env = ProcessInfo.processInfo.environment["EDGETUNE_PROFILES"] { folders.append(env) }
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<6 {
      folders.append(directory.appendingPathComponent("Profiles").path)
      directory = directory.deletingLastPathComponent()
    }
    folders.append(FileManager.default.currentDirectoryPath + "/Profiles")
    for folder in folders {
      let candidate = (folder as NSString).appendingPathComponent(name + ".json")
      if FileManager.default.fileExists(atPath: candidate) { return candidate }
    }
    let available = folders.compactMap { try? FileManager.default.contentsOfDirectory(atPath: $0) }.flatMap { $0 }
      .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }
    throw InputError(
      "no profile named \(name)"
        + (available.isEmpty ? "" : " (available: \(Set(available).sorted().joined(separator: ", ")))"))
  }
}
