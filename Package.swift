// swift-tools-version:6.0
import PackageDescription

/// One settings array for every Swift target: Swift 6 language mode everywhere, release-speed checks off only
/// where a comment says why (none yet).
let swiftSettings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
  name: "EdgeTune",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "edgetune", targets: ["edgetune"])
  ],
  dependencies: [
    // The CLI's parsing, help and validation (STYLE.md: one root command, one file per subcommand).
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    // C libraries from Debian: libopenblas-dev, liblz4-dev, libnuma-dev. Each is imported by exactly one Swift module.
    .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", providers: [.apt(["liblz4-dev"])]),
    .systemLibrary(name: "CNUMA", path: "Sources/CNUMA", providers: [.apt(["libnuma-dev"])]),
    // The few Glibc facilities Swift's Glibc module does not export (madvise flags, mallopt, malloc_trim, getcpu).
    .target(name: "CShims", path: "Sources/CShims"),

    .target(name: "Memory", dependencies: ["CShims", "CNUMA"], swiftSettings: swiftSettings),
    .target(name: "Tensor", dependencies: ["CBLAS", "Memory"], swiftSettings: swiftSettings),
    // Memory profiles: the sampled timeline, phases and plan of a run, rendered as JSON, HTML (inline SVG) and CSV.
    .target(name: "Profiling", dependencies: ["Memory"], swiftSettings: swiftSettings),
    .target(name: "Quantization", swiftSettings: swiftSettings),
    .target(name: "Formats", dependencies: ["Memory", "Quantization"], swiftSettings: swiftSettings),
    // Paged buffers (optimizer state) over a spill file: LZ4 pages with checksums, read-ahead and write-behind.
    .target(name: "Paging", dependencies: ["Memory", "Formats", "CLZ4", "CShims"], swiftSettings: swiftSettings),
    .target(
      name: "Model", dependencies: ["Formats", "Tensor", "Quantization", "Memory"], swiftSettings: swiftSettings),
    .target(
      name: "Training", dependencies: ["Model", "Formats", "Tensor", "Quantization", "Memory", "Paging"],
      swiftSettings: swiftSettings),
    // A run's report as an HTML page (Training's report drawn with Profiling's charts).
    .target(
      name: "RunReports", dependencies: ["Training", "Profiling", "Memory", "Formats"], swiftSettings: swiftSettings),
    .executableTarget(
      name: "edgetune",
      dependencies: [
        "Training", "Model", "Formats", "Memory", "Tensor", "Quantization", "Profiling", "Paging", "RunReports",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings
    ),

    // A Swift program that fine-tunes through the library (README's example; built and run by CLITests).
    .executableTarget(
      name: "finetune-from-code", dependencies: ["Training", "Model"], path: "Examples/FineTuneFromCode",
      swiftSettings: swiftSettings),

    .testTarget(name: "MemoryTests", dependencies: ["Memory"], swiftSettings: swiftSettings),
    .testTarget(name: "PagingTests", dependencies: ["Paging", "Memory"], swiftSettings: swiftSettings),
    .testTarget(name: "ProfilingTests", dependencies: ["Profiling", "Memory"], swiftSettings: swiftSettings),
    .testTarget(name: "TensorTests", dependencies: ["Tensor", "Memory"], swiftSettings: swiftSettings),
    .testTarget(
      name: "QuantizationTests", dependencies: ["Quantization"], exclude: ["Fixtures"], swiftSettings: swiftSettings),
    .testTarget(
      name: "FormatsTests", dependencies: ["Formats", "Quantization", "Memory"], swiftSettings: swiftSettings),
    .testTarget(
      name: "ModelTests", dependencies: ["Model", "Formats", "Tensor", "Memory"], exclude: ["Fixtures"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "TrainingTests", dependencies: ["Training", "Model", "Formats", "Tensor", "Memory"], exclude: ["Fixtures"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "CLITests", dependencies: ["edgetune", "finetune-from-code", "Training", "Model", "Formats", "Memory"],
      swiftSettings: swiftSettings),
  ]
)
