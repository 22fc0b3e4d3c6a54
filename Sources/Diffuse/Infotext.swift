// The A1111 "infotext" stored in a PNG `parameters` text chunk, as AUTOMATIC1111's create_infotext writes it
// (modules/processing.py) and parse_generation_parameters reads it (modules/infotext_utils.py):
//
//   {prompt}
//   Negative prompt: {negative}          (only when the negative prompt is not empty)
//   Steps: 20, Sampler: Euler a, CFG scale: 7.0, Seed: 1234, Size: 512x512, Model hash: …, Model: …
//
// Values containing ',', ':' or a newline are written as JSON strings (non-ASCII kept literal). The parser also
// accepts other writers' variants, e.g. sd.cpp's `CFG scale: 7.000000`.

import Foundation

public struct Infotext: Equatable, Sendable {
    public struct Parameter: Equatable, Sendable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) { self.key = key; self.value = value }
    }

    public var prompt: String
    public var negativePrompt: String
    /// Last-line parameters in order, values unquoted.
    public var parameters: [Parameter]

    public init(prompt: String, negativePrompt: String = "", parameters: [Parameter]) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.parameters = parameters
    }

    /// A1111's key order for the parameters we produce. `nil` values are left out, like A1111's `None`.
    public init(prompt: String, negativePrompt: String, steps: Int, sampler: String, cfgScale: Double, seed: UInt64,
                width: Int, height: Int, modelHash: String? = nil, modelName: String? = nil,
                denoisingStrength: Double? = nil, clipSkip: Int? = nil, rng: String? = nil,
                extra: [Parameter] = []) {
        var p: [Parameter] = [
            .init("Steps", String(steps)), .init("Sampler", sampler), .init("CFG scale", Self.format(cfgScale)),
            .init("Seed", String(seed)), .init("Size", "\(width)x\(height)"),
        ]
        if let modelHash { p.append(.init("Model hash", modelHash)) }
        if let modelName { p.append(.init("Model", modelName)) }
        if let denoisingStrength { p.append(.init("Denoising strength", Self.format(denoisingStrength))) }
        if let clipSkip, clipSkip > 1 { p.append(.init("Clip skip", String(clipSkip))) }
        if let rng { p.append(.init("RNG", rng)) }
        self.init(prompt: prompt, negativePrompt: negativePrompt, parameters: p + extra)
    }

    /// Python's str(float): always a decimal point or exponent (7 → "7.0"), shortest round-trip digits.
    public static func format(_ x: Double) -> String {
        "\(x)"   // Swift prints the same shortest round-trip form: "7.0", "0.75", "1e-05"
    }

    public subscript(key: String) -> String? { parameters.first { $0.key == key }?.value }

    public func int(_ key: String) -> Int? { self[key].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    /// Accepts "7", "7.0" and "7.000000".
    public func double(_ key: String) -> Double? { self[key].flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } }

    /// `Size: WxH`.
    public var size: (width: Int, height: Int)? {
        guard let s = self["Size"] else { return nil }
        let parts = s.split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else { return nil }
        return (w, h)
    }

    /// The `parameters` text.
    public var text: String {
        var s = prompt
        if !negativePrompt.isEmpty { s += "\nNegative prompt: " + negativePrompt }
        let line = parameters.map { p in p.key == p.value ? p.key : "\(p.key): \(Self.quote(p.value))" }
            .joined(separator: ", ")
        s += "\n" + line
        return s.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// infotext_utils.quote: JSON-encode (ensure_ascii=False) when the value has ',', ':' or a newline.
    public static func quote(_ v: String) -> String {
        guard v.contains(",") || v.contains(":") || v.contains("\n") else { return v }
        var s = "\""
        for u in v.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            case "\u{08}": s += "\\b"
            case "\u{0C}": s += "\\f"
            default:
                if u.value < 0x20 { s += String(format: "\\u%04x", u.value) } else { s.unicodeScalars.append(u) }
            }
        }
        return s + "\""
    }

    // MARK: Parsing (parse_generation_parameters)

    /// A1111's re_param: `Key: value` where the value is a JSON string or runs to the next comma.
    nonisolated(unsafe) static let paramPattern = try! Regex(#"\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)"#)

    /// Reads `parameters` text. Like A1111, the last line counts as the parameters line only if it holds at
    /// least three `Key: value` pairs; otherwise it is part of the prompt.
    public static func parse(_ text: String) -> Infotext {
        var lines = text.trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var last = lines.removeLast()
        if last.matches(of: paramPattern).count < 3 {
            lines.append(last)
            last = ""
        }
        var prompt = "", negative = "", inNegative = false
        for raw in lines {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("Negative prompt:") {
                inNegative = true
                line = String(line.dropFirst(16)).trimmingCharacters(in: .whitespaces)
            }
            if inNegative { negative += (negative.isEmpty ? "" : "\n") + line } else { prompt += (prompt.isEmpty ? "" : "\n") + line }
        }
        var params: [Parameter] = []
        for m in last.matches(of: paramPattern) {
            guard let k = m.output[1].substring, let v = m.output[2].substring else { continue }
            params.append(Parameter(String(k), unquote(String(v))))
        }
        return Infotext(prompt: prompt, negativePrompt: negative, parameters: params)
    }

    /// infotext_utils.unquote: a JSON string literal is decoded; anything else is kept as written.
    static func unquote(_ v: String) -> String {
        guard v.count >= 2, v.first == "\"", v.last == "\"",
              let s = try? JSONDecoder().decode(String.self, from: Data(v.utf8)) else { return v }
        return s
    }
}
