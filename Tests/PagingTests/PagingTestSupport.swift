import Foundation
import Paging

/// A backing store in a dictionary, with an optional fault: after `failAfterWrites` writes, every write throws
/// `fault` (a disk filling up mid-run, without needing a full disk).
final class DictionaryBacking: PageBackingStore, @unchecked Sendable {
  let pageBytes: Int
  var pages: [Int: [UInt8]] = [:]
  var writes = 0
  var failAfterWrites = Int.max
  var fault = PagingError.spillDirectoryFull(directory: "/test", needed: 1, available: 0)

  init(pageBytes: Int) { self.pageBytes = pageBytes }

  var summary: String { "dictionary" }

  func write(page: Int, from bytes: UnsafeRawBufferPointer) throws(PagingError) -> Int {
    guard writes < failAfterWrites else { throw fault }
    writes += 1
    pages[page] = Array(bytes)
    return bytes.count
  }

  func read(page: Int, into bytes: UnsafeMutableRawBufferPointer) throws(PagingError) -> Int? {
    guard let stored = pages[page] else { return nil }
    bytes.copyBytes(from: stored)
    return stored.count
  }

  func discardAll() { pages = [:] }
}

/// A fresh directory under the system's temporary directory.
func scratchDirectory(_ name: String) throws -> String {
  let path = NSTemporaryDirectory() + "edgetune-paging-\(name)-\(UInt32.random(in: 0...UInt32.max))"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// xorshift64: reproducible page contents and access orders.
struct TestRandom {
  var state: UInt64
  mutating func next() -> UInt64 {
    state ^= state << 13
    state ^= state >> 7
    state ^= state << 17
    return state
  }
}
