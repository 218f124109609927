import ArgumentParser
import Memory
import Paging
import Training

/// --optimizer-state and its paging knobs, shared by `train lora`, `plan` and `profile`.
struct OptimizerStateOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Where AdamW's moments live: auto[:DIR], ram, disk[:DIR] or numa[:NODE].",
      discussion: """
        auto keeps them in RAM unless the budget needs the room, then pages them to disk (in DIR, default \
        /var/tmp). disk pages them to an \
        LZ4-compressed spill file in DIR (default /var/tmp; made if missing) with --optimizer-resident of them in \
        RAM; the result is bit-identical to RAM. numa places them on NUMA node NODE (default: the training \
        threads' node); one-node machines keep plain RAM.
        """,
      valueName: "place"))
  var optimizerState: String = "auto"

  @Option(
    help: ArgumentHelp(
      "Bits per moment: 32 (fp32, exact) or 8 (bitsandbytes-style blockwise 8-bit, a quarter of the size).",
      valueName: "bits"))
  var optimizerBits: Int = 32

  @Option(help: "Compression of spilled optimizer pages: lz4 or none.")
  var spillCompress: String = "lz4"

  @Option(help: ArgumentHelp("RAM for resident optimizer pages when paged to disk.", valueName: "size"))
  var optimizerResident: String = "16MiB"

  func validate() throws {
    _ = try request()
    guard optimizerBits == 32 || optimizerBits == 8 else { throw ValidationError("--optimizer-bits must be 32 or 8") }
    guard SpillFile.Compression(rawValue: spillCompress) != nil else {
      throw ValidationError("--spill-compress must be lz4 or none")
    }
    guard ByteCount.parse(optimizerResident) != nil else {
      throw ValidationError("--optimizer-resident \(optimizerResident) is not a size (examples: 16MiB, 64M)")
    }
  }

  func request() throws -> OptimizerStateRequest {
    do { return try OptimizerStateRequest(parsing: optimizerState) } catch {
      throw ValidationError("--optimizer-state: \(error)")
    }
  }

  var compression: SpillFile.Compression { SpillFile.Compression(rawValue: spillCompress) ?? .lz4 }
  var residentBytes: Int { ByteCount.parse(optimizerResident) ?? OptimizerStatePlacement.defaultResidentBytes }

  /// The placement asked for (nil: the plan decides) and a notice for a NUMA request that falls back to RAM.
  func placement() throws -> (placement: OptimizerStatePlacement?, notice: String?) {
    guard
      let resolved = try OptimizerStatePlacement.resolve(
        try request(), compression: compression, residentBytes: residentBytes, bits: optimizerBits)
    else { return (nil, nil) }
    return (resolved.placement, resolved.notice)
  }

  /// The disk placement the plan uses when it decides to page.
  var pagedPlacement: OptimizerStatePlacement {
    var directory = OptimizerStatePlacement.defaultSpillDirectory
    if case .auto(let chosen?) = try? request() { directory = chosen }
    return OptimizerStatePlacement(
      .disk(directory: directory), compression: compression,
      residentBytes: residentBytes, bits: optimizerBits)
  }
}
