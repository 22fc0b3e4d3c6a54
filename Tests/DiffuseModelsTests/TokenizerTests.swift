import DiffuseModels
import Foundation
import XCTest

/// Token ids are integers: every comparison here is exact (no tolerance).
final class TokenizerTests: XCTestCase {
    struct Case: Decodable {
        var text: String
        var ids: [Int32]
        var ids_sd2: [Int32]?
        var sd1: [Int32]
        var sd2: [Int32]
        var dropped: String?
        var dropped_sd2: String?
        var chunks: [[Int32]]
    }

    struct Prompts: Decodable {
        var max_length: Int
        var cases: [Case]
    }

    static let vocabURL = fixturesRoot.appendingPathComponent("clip-vocab/vocab.json")
    static let mergesURL = fixturesRoot.appendingPathComponent("clip-vocab/merges.txt")

    func loadPrompts() throws -> Prompts {
        let url = fixturesRoot.appendingPathComponent("tokenizer/prompts.json")
        return try JSONDecoder().decode(Prompts.self, from: Data(contentsOf: url))
    }

    func testSD1PromptsMatchTransformers() throws {
        let prompts = try loadPrompts()
        XCTAssertEqual(prompts.max_length, CLIPTokenizer.maxLength)
        XCTAssertGreaterThanOrEqual(prompts.cases.count, 250)
        let tokenizer = try CLIPTokenizer(vocabURL: Self.vocabURL, mergesURL: Self.mergesURL, padTokenId: 49407)
        for c in prompts.cases {
            XCTAssertEqual(tokenizer.encode(c.text), c.ids, "encode \(c.text.debugDescription)")
            let t = tokenizer.tokenize(c.text)
            XCTAssertEqual(t.ids, c.sd1, "tokenize \(c.text.debugDescription)")
            XCTAssertEqual(t.tokenCount, c.ids.count)
            XCTAssertEqual(t.dropped, c.dropped, "dropped text of \(c.text.debugDescription)")
        }
    }

    func testSD2PromptsMatchTransformers() throws {
        let tokenizer = try CLIPTokenizer(vocabURL: Self.vocabURL, mergesURL: Self.mergesURL, padTokenId: 0)
        var differing = 0
        for c in try loadPrompts().cases {
            XCTAssertEqual(tokenizer.encode(c.text), c.ids_sd2 ?? c.ids, "encode \(c.text.debugDescription)")
            let t = tokenizer.tokenize(c.text)
            XCTAssertEqual(t.ids, c.sd2, "tokenize \(c.text.debugDescription)")
            XCTAssertEqual(t.dropped, c.dropped_sd2 ?? c.dropped, "dropped text of \(c.text.debugDescription)")
            if c.ids_sd2 != nil { differing += 1 }
        }
        // The "!"-as-special-token rule must actually be exercised by the fixture.
        XCTAssertGreaterThan(differing, 10)
    }

    func testTruncationWarningNamesTheDroppedText() throws {
        let tokenizer = try CLIPTokenizer.builtin()
        let t = tokenizer.tokenize(Array(repeating: "cat", count: 80).joined(separator: " "))
        XCTAssertEqual(t.tokenCount, 80)
        XCTAssertEqual(t.dropped, "cat cat cat cat cat")
        XCTAssertEqual(t.truncationWarning, "The following part of your input was truncated because CLIP can only "
            + "handle sequences up to 77 tokens: cat cat cat cat cat")
        XCTAssertNil(tokenizer.tokenize("a cat").truncationWarning)
    }

    func testA1111ChunksMatchFixture() throws {
        let tokenizer = try CLIPTokenizer(vocabURL: Self.vocabURL, mergesURL: Self.mergesURL)
        for c in try loadPrompts().cases {
            XCTAssertEqual(tokenizer.tokenizeChunked(c.text), c.chunks, "chunks of \(c.text.debugDescription)")
        }
    }

    func testChunkingRules() throws {
        let tok = try CLIPTokenizer.builtin()
        let a: Int32 = 320, b: Int32 = 321, comma: Int32 = 267
        // Fixed windows: 160 tokens → 75 + 75 + 10, each [BOS, ..., EOS, pad...].
        let fixed = tok.chunks(of: Array(repeating: a, count: 160), commaBacktrack: 0)
        XCTAssertEqual(fixed.map { $0.count }, [77, 77, 77])
        XCTAssertEqual(fixed.map { $0.filter { $0 == a }.count }, [75, 75, 10])
        XCTAssertEqual(fixed[2][11], 49407)
        // A comma 5 tokens before the boundary: the 4 tokens after it move to the next window.
        let ids = Array(repeating: a, count: 70) + [comma] + Array(repeating: b, count: 10)
        let backtracked = tok.chunks(of: ids)
        XCTAssertEqual(Array(backtracked[0][1...72]), Array(repeating: a, count: 70) + [comma, 49407])
        XCTAssertEqual(Array(backtracked[1][1...11]), Array(repeating: b, count: 10) + [49407])
        // A comma 30 tokens back is beyond the default window of 20: fixed split.
        let far = tok.chunks(of: Array(repeating: a, count: 45) + [comma] + Array(repeating: b, count: 40))
        XCTAssertEqual(far[0].filter { $0 == b }.count, 29)
        // Empty prompt: one window [BOS, EOS, pad...]; SD 2 pads with 0.
        let sd2 = try CLIPTokenizer.builtin(padTokenId: 0)
        XCTAssertEqual(sd2.tokenizeChunked(""), [[49406, 49407] + Array(repeating: 0, count: 75)])
    }

    func testBuiltinVocabularyEqualsVocabJSON() throws {
        let expected = try JSONDecoder().decode([String: Int32].self, from: Data(contentsOf: Self.vocabURL))
        let builtin = try CLIPTokenizer.builtin()
        XCTAssertEqual(builtin.vocabulary.count, 49408)
        XCTAssertEqual(builtin.vocabulary, expected)
        let fromFiles = try CLIPTokenizer(vocabURL: Self.vocabURL, mergesURL: Self.mergesURL)
        let prompt = "a photograph of an astronaut riding a horse"
        XCTAssertEqual(builtin.encode(prompt), [320, 8853, 539, 550, 18376, 6765, 320, 4558])
        XCTAssertEqual(builtin.tokenize(prompt), fromFiles.tokenize(prompt))
    }

    func testTokenizesWellUnderAMillisecond() throws {
        let tokenizer = try CLIPTokenizer.builtin()
        let prompt = "cyberpunk city at night, neon lights, rain, reflections, 8k, octane render, trending on "
            + "artstation, (masterpiece:1.2), best quality, highly detailed portrait of a woman"
        _ = tokenizer.tokenize(prompt)  // fills the word cache, as the negative/positive prompts of a run do
        let runs = 200
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<runs { _ = tokenizer.tokenize(prompt) }
        let perPrompt = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(runs) / 1e6
        // Measured ~0.03 ms here; 1 ms leaves room for a loaded, shared 2-core machine.
        XCTAssertLessThan(perPrompt, 1.0, "tokenize took \(perPrompt) ms")
        let coldStart = DispatchTime.now().uptimeNanoseconds
        _ = try CLIPTokenizer.builtin().tokenize(prompt + " unusual words zyxwv qqqq")
        let cold = Double(DispatchTime.now().uptimeNanoseconds - coldStart) / 1e6
        print("tokenize: \(perPrompt) ms warm; builtin load + cold tokenize \(cold) ms")
    }
}
