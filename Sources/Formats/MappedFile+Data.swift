public import Foundation
public import Memory

extension MappedFile {
  /// The whole of a small file (a JSON document, a prompt list) as `Data`, read through the mapping so that only a
  /// regular file is read: a FIFO or a device named by mistake is refused at once instead of read forever.
  public static func contents(ofFile path: String) throws(MemoryError) -> Data {
    // A named owner: the mapping must outlive the copy (a temporary could be unmapped before Data reads it).
    let file = try MappedFile(path: path)
    return Data(file.bytes)
  }
}
