// Every parameter (name, shape) a component with this config has — the same tables the loader checks
// against — for tools that write models (the benchmark's random-weight SD 1.5, training exports).

public func unetParameterShapes(_ c: UNetConfig) -> [(name: String, shape: [Int])] {
    unetTable(c).map { ($0.name, $0.shape) }
}

public func vaeParameterShapes(_ c: VAEConfig) -> [(name: String, shape: [Int])] {
    vaeTable(c).map { ($0.name, $0.shape) }
}

public func textEncoderParameterShapes(_ c: CLIPTextConfig) -> [(name: String, shape: [Int])] {
    clipTable(c).map { ($0.name, $0.shape) }
}
