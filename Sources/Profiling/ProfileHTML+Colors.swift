/// Colours of the timeline: one per ledger label and two per phase (pale background band, stronger ribbon), each
/// chosen from the name itself, so "weights" keeps its colour from run to run.
extension ProfileHTML {
  /// A colour for each label: the palette entry its name hashes to, or the next free one, so names keep their
  /// colour across runs as long as they do not collide; past ten labels, hues spaced by the golden angle.
  static func ledgerColors(_ labels: [String]) -> [String: String] {
    var colors: [String: String] = [:]
    var taken = Set<Int>()
    for (index, label) in labels.sorted().enumerated() {
      if taken.count == palette.count {
        let hue = (index * 137 + 17) % 360
        colors[label] = "hsl(\(hue), 50%, 58%)"
        continue
      }
      var slot = Int(stableHash(label) % UInt64(palette.count))
      while taken.contains(slot) { slot = (slot + 1) % palette.count }
      taken.insert(slot)
      colors[label] = palette[slot]
    }
    return colors
  }

  /// The band of several phases merged because each alone was too narrow to see.
  static let mixedPhaseColors = (band: "#f1f1f1", ribbon: "#cfcfcf")

  /// The phases `RunPhase` knows get fixed tints; others a hue from their name.
  static func phaseColors(_ phase: String) -> (band: String, ribbon: String) {
    switch phase {
    case "idle": return ("#f4f4f4", "#d9d9d9")
    case "load": return ("#e2e9f3", "#a9bcd6")
    case "plan": return ("#eaeef2", "#bcc6d0")
    case "forward": return ("#e4f2e1", "#a8d5a0")
    case "backward": return ("#fbe7d3", "#f3b97f")
    case "optimizer": return ("#eee3f2", "#c9a8d6")
    case "eval": return ("#fbf2cc", "#ecd36a")
    case "save": return ("#e9e6e1", "#c4bcae")
    case "generate": return ("#dff1f1", "#93cfcf")
    case "convert": return ("#f3e2e7", "#d9a5b5")
    default:
      let hue = Int(stableHash(phase) % 360)
      return ("hsl(\(hue), 60%, 93%)", "hsl(\(hue), 50%, 76%)")
    }
  }

  /// FNV-1a over the UTF-8 bytes: unlike `hashValue`, the same in every process.
  static func stableHash(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x100_0000_01b3
    }
    return hash
  }
}
