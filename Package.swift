// swift-tools-version:6.0
import PackageDescription

// Numeric targets are always compiled optimised (even under `swift test`): debug-mode loops run tens of
// times slower and would make the model tests take minutes. On x86_64 we ask for AVX2+FMA code
// (`haswell`): swiftc emits no FMA without a target CPU. The manifest is compiled for the host, so the
// `#if arch` picks the flag of the machine that builds.
// DiffuseKernelsAVX512 alone is compiled for AVX-512 (`skylake-avx512`); DiffuseCore calls it only when
// CPUID reports AVX-512 at run time (CDiffuseCPU), so the product still runs on AVX2-only CPUs.
#if arch(x86_64)
let cpuFlags = ["-target-cpu", "haswell"]
let avx512Flags = ["-target-cpu", "skylake-avx512"]
#else
let cpuFlags: [String] = []
let avx512Flags: [String] = []
#endif
// Swift 5 language mode: the kernels share raw buffers across worker threads by design, which strict
// concurrency checking cannot express without wrappers on every loop.
let lang: [SwiftSetting] = [.swiftLanguageMode(.v5)]
let fast: [SwiftSetting] = lang + [.unsafeFlags(["-Ounchecked"] + cpuFlags)]

let package = Package(
    name: "Diffuse",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Diffuse", targets: ["Diffuse"]),
        .executable(name: "diffuse", targets: ["diffuse"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // Already in the graph through Hummingbird; named here so the Studio tests can use its HTTP/1 client
        // pieces instead of HummingbirdTesting (which pulls AsyncHTTPClient, swift-nio-ssl and BoringSSL).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.0.0"),
    ],
    targets: [
        .target(name: "DiffuseCore", dependencies: ["CDiffuseCPU", "DiffuseKernelsAVX512"], swiftSettings: fast),
        // CPUID feature check (C: Swift has no inline assembly), the C packers and the AVX-512 exp/softmax;
        // the kernels' sources are empty on non-x86 hosts. -O2 even in debug builds, like the Swift
        // kernels: at SwiftPM's debug -O0 every intrinsic goes through the stack (the exp runs 9× slower).
        .target(name: "CDiffuseCPU", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "DiffuseKernelsAVX512", swiftSettings: lang + [.unsafeFlags(["-Ounchecked"] + avx512Flags)]),
        .target(name: "DiffuseSampling", dependencies: ["DiffuseCore"], swiftSettings: fast),
        .target(name: "DiffuseModels", dependencies: ["DiffuseCore"], resources: [.copy("Resources/clip-merges.txt")],
                swiftSettings: fast),
        .target(name: "Diffuse", dependencies: ["DiffuseCore", "DiffuseModels", "DiffuseSampling"],
                swiftSettings: fast),
        .target(name: "DiffuseTraining", dependencies: ["DiffuseCore", "DiffuseModels", "DiffuseSampling", "Diffuse"],
                resources: [.copy("Resources/builtin-shapes.safetensors")], swiftSettings: fast),
        // The gallery uses the system SQLite (Debian: libsqlite3-dev) through this module map.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // The HTTP service; the only target that sees Hummingbird (the core targets stay dependency-free).
        .target(name: "DiffuseStudio", dependencies: [
            "Diffuse", "DiffuseModels", "DiffuseSampling", "DiffuseTraining", "CSQLite",
            .product(name: "Hummingbird", package: "hummingbird"),
        ], resources: [.copy("Resources/web")], swiftSettings: lang),
        .executableTarget(name: "diffuse", dependencies: [
            "Diffuse", "DiffuseTraining", "DiffuseStudio", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: lang),
        // Kernel benchmark (GFLOP/s vs numpy/OpenBLAS); not part of the product.
        .executableTarget(name: "diffuse-bench-kernels", dependencies: ["DiffuseCore"],
                          exclude: ["numpy_gemm.py"], swiftSettings: fast),
        .testTarget(name: "DiffuseCoreTests", dependencies: ["DiffuseCore"], swiftSettings: lang),
        .testTarget(name: "DiffuseSamplingTests", dependencies: ["DiffuseSampling", "DiffuseModels"], swiftSettings: lang),
        .testTarget(name: "DiffuseModelsTests", dependencies: ["DiffuseModels"], swiftSettings: lang),
        .testTarget(name: "DiffuseTrainingTests", dependencies: ["DiffuseTraining"], swiftSettings: lang),
        .testTarget(name: "DiffuseStudioTests", dependencies: [
            "DiffuseStudio", .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: lang),
        .testTarget(name: "DiffuseTests", dependencies: ["Diffuse", "diffuse"], swiftSettings: lang),
    ]
)
