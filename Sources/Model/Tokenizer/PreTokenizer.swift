/// How text is cut into words before byte-level BPE runs on each word (llama.cpp's `tokenizer.ggml.pre`).
///
/// Each kind is a hand-written scanner for one regular expression, over Unicode scalars classified once
/// (letter = `\p{L}`, number = `\p{N}` = Nd|Nl|No, space = `\s` = White_Space, other = the rest):
/// - `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// - `smollm`: every `\p{N}` isolated first (HF `Digits(individual_digits: true)`), then `gpt2` on the rest
/// - `qwen2`: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// - `llama3`: as `qwen2` with `\p{N}{1,3}`
/// ref: openai/gpt-2 `encoder.py`; llama.cpp `llama-vocab.cpp` (LLAMA_VOCAB_PRE_TYPE_*);
///      huggingface/tokenizers `pre_tokenizers/{byte_level,digits,split}.rs` (Oniguruma semantics).
public enum PreTokenizerKind: String, Sendable, CaseIterable {
  case gpt2
  /// Digits isolated, then `gpt2`.
  case smollm
  case qwen2
  case llama3
}

/// Scalar classes as bit flags; `other` is the absence of letter, number and space.
enum ScalarClass {
  static let letter: UInt8 = 1
  static let number: UInt8 = 2
  static let space: UInt8 = 4
  /// ASCII fast path: class of every scalar below 128.
  static let ascii: [UInt8] = (0..<128).map { classify(slow: UInt32($0)) }

  /// The class of one scalar value.
  @inline(__always)
  static func classify(_ value: UInt32) -> UInt8 {
    value < 128 ? ascii[Int(value)] : classify(slow: value)
  }

  static func classify(slow value: UInt32) -> UInt8 {
    guard let scalar = Unicode.Scalar(value) else { return 0 }
    let properties = scalar.properties
    if properties.isWhitespace { return space }
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
      return letter
    case .decimalNumber, .letterNumber, .otherNumber:
      return number
    default:
      return 0
    }
  }
}

/// One text segment decoded to scalars, with each scalar's class and UTF-8 offset; reused across segments.
struct ScalarText {
  /// Unicode scalar values, (n).
  var scalars: [UInt32] = []
  /// `ScalarClass` flags, (n).
  var classes: [UInt8] = []
  /// Byte offset of each scalar in the segment, plus the end offset, (n + 1).
  var offsets: [Int32] = []

  /// Decodes `bytes` (valid UTF-8, as it comes from a `String`).
  mutating func load(_ bytes: UnsafeBufferPointer<UInt8>) {
    scalars.removeAll(keepingCapacity: true)
    classes.removeAll(keepingCapacity: true)
    offsets.removeAll(keepingCapacity: true)
    var i = 0
    let n = bytes.count
    while i < n {
      let b0 = UInt32(bytes[i])
      var value: UInt32
      var length: Int
      if b0 < 0x80 {
        value = b0
        length = 1
      } else if b0 < 0xE0 {
        value = b0 & 0x1F
        length = 2
      } else if b0 < 0xF0 {
        value = b0 & 0x0F
        length = 3
      } else {
        value = b0 & 0x07
        length = 4
      }
      length = min(length, n - i)
      for k in 1..<max(length, 1) {
        value = (value << 6) | (UInt32(bytes[i + k]) & 0x3F)
      }
      scalars.append(value)
      classes.append(ScalarClass.classify(value))
      offsets.append(Int32(i))
      i += length
    }
    offsets.append(Int32(n))
  }
}

/// The pre-tokenizer scanners: they append the exclusive end (a scalar index) of every piece.
enum PreTokenizer {
  /// Splits scalars `0..<text.scalars.count` into pieces for `kind`, appending piece ends to `ends`.
  static func split(_ text: ScalarText, kind: PreTokenizerKind, into ends: inout [Int32]) {
    text.scalars.withUnsafeBufferPointer { scalars in
      text.classes.withUnsafeBufferPointer { classes in
        let n = scalars.count
        switch kind {
        case .gpt2:
          gpt2(scalars, classes, 0, n, &ends)
        case .smollm:
          var start = 0
          for i in 0..<n where classes[i] & ScalarClass.number != 0 {
            if start < i { gpt2(scalars, classes, start, i, &ends) }
            ends.append(Int32(i + 1))
            start = i + 1
          }
          if start < n { gpt2(scalars, classes, start, n, &ends) }
        case .qwen2:
          llamaStyle(scalars, classes, 0, n, maxDigits: 1, &ends)
        case .llama3:
          llamaStyle(scalars, classes, 0, n, maxDigits: 3, &ends)
        }
      }
    }
  }

  /// Length (2 or 3) of an English contraction (`'s 't 're 've 'm 'll 'd`) starting at `i`, or 0.
  @inline(__always)
  static func contraction(
    _ s: UnsafeBufferPointer<UInt32>, _ i: Int, _ hi: Int, caseInsensitive: Bool
  ) -> Int {
    guard s[i] == 0x27, i + 1 < hi else { return 0 }
    // Setting bit 0x20 lowercases ASCII letters; only letters can then match below.
    let fold: UInt32 = caseInsensitive ? 0x20 : 0
    let c1 = s[i + 1] | fold
    switch c1 {
    case 0x73, 0x74, 0x6D, 0x64: return s[i + 1] < 128 ? 2 : 0  // s t m d
    default: break
    }
    guard i + 2 < hi, s[i + 1] < 128, s[i + 2] < 128 else { return 0 }
    let c2 = s[i + 2] | fold
    switch (c1, c2) {
    case (0x72, 0x65), (0x76, 0x65), (0x6C, 0x6C): return 3  // re ve ll
    default: return 0
    }
  }

  /// End of the whitespace run starting at `i` (exclusive).
  @inline(__always)
  static func spaceRunEnd(_ c: UnsafeBufferPointer<UInt8>, _ i: Int, _ hi: Int) -> Int {
    var j = i
    while j < hi, c[j] & ScalarClass.space != 0 { j += 1 }
    return j
  }

  /// `\s+(?!\S)|\s+` on the whitespace run `i..<j`: the run, less its last scalar when a non-space follows.
  @inline(__always)
  static func spaceEnd(_ i: Int, _ j: Int, _ hi: Int) -> Int {
    (j < hi && j - i >= 2) ? j - 1 : j
  }

  /// Kind of a non-space scalar for run-building: letter, number or other (0).
  @inline(__always)
  static func kindOf(_ cls: UInt8) -> UInt8 { cls & (ScalarClass.letter | ScalarClass.number | ScalarClass.space) }

  /// GPT-2's regex on scalars `lo..<hi`.
  static func gpt2(
    _ s: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int, _ ends: inout [Int32]
  ) {
    var i = lo
    while i < hi {
      let contracted = contraction(s, i, hi, caseInsensitive: false)
      if contracted > 0 {
        i += contracted
        ends.append(Int32(i))
        continue
      }
      var start = i
      if s[i] == 0x20, i + 1 < hi, c[i + 1] & ScalarClass.space == 0 { start = i + 1 }
      let kind = kindOf(c[start])
      if kind & ScalarClass.space == 0 {
        // ` ?\p{L}+`, ` ?\p{N}+` or ` ?[^\s\p{L}\p{N}]+`: a run of one kind.
        var j = start + 1
        while j < hi, kindOf(c[j]) == kind { j += 1 }
        i = j
      } else {
        i = spaceEnd(i, spaceRunEnd(c, i, hi), hi)
      }
      ends.append(Int32(i))
    }
  }

  /// Qwen2 / Llama-3 regex on scalars `lo..<hi`; `maxDigits` is 1 (Qwen2) or 3 (Llama 3).
  static func llamaStyle(
    _ s: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int, maxDigits: Int,
    _ ends: inout [Int32]
  ) {
    let letter = ScalarClass.letter
    let number = ScalarClass.number
    var i = lo
    while i < hi {
      let contracted = contraction(s, i, hi, caseInsensitive: true)
      if contracted > 0 {
        i += contracted
        ends.append(Int32(i))
        continue
      }
      let cls = c[i]
      let isNewline = s[i] == 0x0A || s[i] == 0x0D
      if cls & letter != 0 || (cls & (letter | number) == 0 && !isNewline && i + 1 < hi && c[i + 1] & letter != 0) {
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        var j = i + 1
        while j < hi, c[j] & letter != 0 { j += 1 }
        i = j
      } else if cls & number != 0 {
        // `\p{N}` or `\p{N}{1,3}`
        var j = i + 1
        while j < hi, j - i < maxDigits, c[j] & number != 0 { j += 1 }
        i = j
      } else if cls == 0 || (s[i] == 0x20 && i + 1 < hi && c[i + 1] == 0) {
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var j = i + 1
        while j < hi, c[j] == 0 { j += 1 }
        while j < hi, s[j] == 0x0A || s[j] == 0x0D { j += 1 }
        i = j
      } else {
        // `\s*[\r\n]+` up to the run's last newline, else `\s+(?!\S)|\s+`.
        let j = spaceRunEnd(c, i, hi)
        var lastNewline = -1
        for k in i..<j where s[k] == 0x0A || s[k] == 0x0D { lastNewline = k }
        i = lastNewline >= 0 ? lastNewline + 1 : spaceEnd(i, j, hi)
      }
      ends.append(Int32(i))
    }
  }
}

extension PreTokenizer {
  /// The words `kind` cuts `text` into (no special-token handling): for tests and debugging.
  static func pieces(_ text: String, kind: PreTokenizerKind) -> [String] {
    var text = text
    return text.withUTF8 { bytes in
      var scalars = ScalarText()
      scalars.load(bytes)
      var ends: [Int32] = []
      split(scalars, kind: kind, into: &ends)
      var start = 0
      return ends.map { end in
        defer { start = Int(end) }
        let range = Int(scalars.offsets[start])..<Int(scalars.offsets[Int(end)])
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
      }
    }
  }
}
