import Foundation
import Memory

/// Small JSON documents (config.json, tokenizer_config.json, index files, metadata strings): parsed with
/// Foundation, with errors that name the file. Never used for tensor data.
enum JSONFile {
  /// Parses `bytes` as a JSON object.
  static func object(_ bytes: UnsafeRawBufferPointer, path: String) throws(FormatError) -> [String: Any] {
    let data = Data(bytes)
    let parsed: Any
    do {
      parsed = try JSONSerialization.jsonObject(with: data, options: [])
    } catch {
      // Foundation's message includes the byte offset where parsing stopped (e.g. invalid UTF-8).
      throw .invalidJSON(
        path: path, reason: (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)")
    }
    guard let object = parsed as? [String: Any] else {
      throw .invalidJSON(path: path, reason: "the top level is not an object")
    }
    return object
  }

  /// Reads and parses a whole JSON file.
  static func object(path: String) throws -> [String: Any] {
    let file = try MappedFile(path: path)
    return try object(file.bytes, path: path)
  }
}

/// Typed access to JSON values with errors naming the file and key.
extension Dictionary where Key == String, Value == Any {
  func requiredInt(_ key: String, path: String) throws(FormatError) -> Int {
    guard let value = self[key] else { throw .missingMetadata(path: path, key: key) }
    guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue) else {
      throw .invalidMetadata(path: path, key: key, reason: "\(value) is not an integer")
    }
    return int
  }

  func optionalInt(_ key: String, path: String) throws(FormatError) -> Int? {
    guard let value = self[key], !(value is NSNull) else { return nil }
    return try requiredInt(key, path: path)
  }

  func optionalDouble(_ key: String, path: String) throws(FormatError) -> Double? {
    guard let value = self[key], !(value is NSNull) else { return nil }
    guard let number = value as? NSNumber else {
      throw .invalidMetadata(path: path, key: key, reason: "\(value) is not a number")
    }
    return number.doubleValue
  }

  func optionalBool(_ key: String, path: String) throws(FormatError) -> Bool? {
    guard let value = self[key], !(value is NSNull) else { return nil }
    guard let number = value as? NSNumber else {
      throw .invalidMetadata(path: path, key: key, reason: "\(value) is not a boolean")
    }
    return number.boolValue
  }

  func optionalString(_ key: String, path: String) throws(FormatError) -> String? {
    guard let value = self[key], !(value is NSNull) else { return nil }
    guard let string = value as? String else {
      throw .invalidMetadata(path: path, key: key, reason: "\(value) is not a string")
    }
    return string
  }
}

/// A parsed JSON object and the file it came from, with typed accessors whose errors name both.
/// (config.json of a Hugging Face directory, or the configuration stored in an NF4 file's metadata.)
public struct JSONObject: @unchecked Sendable {
  // @unchecked Sendable: immutable after parsing; Foundation's JSON values are immutable here.
  public let values: [String: Any]
  public let path: String

  public init(values: [String: Any], path: String) {
    self.values = values
    self.path = path
  }

  /// Parses UTF-8 JSON text (a metadata string) as an object.
  public init(text: String, path: String) throws(FormatError) {
    let bytes = Array(text.utf8)
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
    defer { copy.deallocate() }
    copy.copyBytes(from: bytes)
    self.values = try JSONFile.object(UnsafeRawBufferPointer(rebasing: copy[0..<bytes.count]), path: path)
    self.path = path
  }

  public subscript(key: String) -> Any? { values[key] }
  public func int(_ key: String) throws(FormatError) -> Int { try values.requiredInt(key, path: path) }
  public func optionalInt(_ key: String) throws(FormatError) -> Int? { try values.optionalInt(key, path: path) }
  public func optionalDouble(_ key: String) throws(FormatError) -> Double? {
    try values.optionalDouble(key, path: path)
  }
  public func optionalBool(_ key: String) throws(FormatError) -> Bool? { try values.optionalBool(key, path: path) }
  public func optionalString(_ key: String) throws(FormatError) -> String? {
    try values.optionalString(key, path: path)
  }
  /// True when the key is present with a non-null value.
  public func has(_ key: String) -> Bool { values[key].map { !($0 is NSNull) } ?? false }
}
