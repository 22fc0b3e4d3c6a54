import Foundation

extension CLIPTokenizer {
    /// The merges.txt built into Diffuse (the standard CLIP vocabulary), for tools that write tokenizer folders.
    public static var builtinMergesURL: URL? { Bundle.module.url(forResource: "clip-merges", withExtension: "txt") }
}
