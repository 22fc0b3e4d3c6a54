@testable import DiffuseModels
import Foundation
import XCTest

/// Loading tokenizers from model folders, error messages, and the Unicode tables behind the split rules.
/// All comparisons are exact.
final class TokenizerFileTests: XCTestCase {
    struct FolderCase: Decodable {
        var text: String
        var ids: [Int32]
    }

    struct Folder: Decodable {
        var pad_token_id: Int32
        var cases: [FolderCase]
    }

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A copy of the real vocabulary in a fresh folder, plus the given config files.
    func makeFolder(_ name: String, files: [String: Any]) throws -> URL {
        let folder = scratch.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(at: fixturesRoot.appendingPathComponent("clip-vocab/\(file)"),
                                             to: folder.appendingPathComponent(file))
        }
        for (file, content) in files {
            try JSONSerialization.data(withJSONObject: content).write(to: folder.appendingPathComponent(file))
        }
        return folder
    }

    func testFolderConfigsMatchFromPretrained() throws {
        let url = fixturesRoot.appendingPathComponent("tokenizer/folders.json")
        let data = try Data(contentsOf: url)
        let expected = try JSONDecoder().decode([String: Folder].self, from: data)
        let raw = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
        XCTAssertEqual(expected.count, 5)
        for (name, variant) in expected {
            let files = try XCTUnwrap(raw[name]?["files"] as? [String: Any])
            let folder = try makeFolder(name, files: files)
            XCTAssertEqual(try CLIPTokenizer.padTokenId(inTokenizerFolder: folder), variant.pad_token_id, name)
            let tokenizer = try CLIPTokenizer(tokenizerFolder: folder)
            XCTAssertEqual(tokenizer.padTokenId, variant.pad_token_id, name)
            for c in variant.cases {
                XCTAssertEqual(tokenizer.encode(c.text), c.ids, "\(name): \(c.text.debugDescription)")
            }
        }
    }

    /// transformers 5 saves only tokenizer.json + tokenizer_config.json; the pad token "!" is an added token there.
    func testTokenizerJSONFolder() throws {
        let vocab = try JSONSerialization.jsonObject(with: Data(contentsOf: fixturesRoot
            .appendingPathComponent("clip-vocab/vocab.json")))
        let merges = try String(contentsOf: fixturesRoot.appendingPathComponent("clip-vocab/merges.txt"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: " ").map(String.init) }
        let added: [[String: Any]] = [
            ["id": 0, "content": "!", "normalized": false, "special": true],
            ["id": 49406, "content": "<|startoftext|>", "normalized": false, "special": true],
            ["id": 49407, "content": "<|endoftext|>", "normalized": true, "special": true],
        ]
        let folder = scratch.appendingPathComponent("v5")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let json: [String: Any] = ["added_tokens": added, "model": ["type": "BPE", "vocab": vocab, "merges": merges]]
        try JSONSerialization.data(withJSONObject: json).write(to: folder.appendingPathComponent("tokenizer.json"))
        try JSONSerialization.data(withJSONObject: ["pad_token": "!", "model_max_length": 77])
            .write(to: folder.appendingPathComponent("tokenizer_config.json"))
        XCTAssertEqual(try CLIPTokenizer.padTokenId(inTokenizerFolder: folder), 0)
        let tokenizer = try CLIPTokenizer(tokenizerFolder: folder)
        // "hello!! world!" → [hello</w>, !, !, world</w>, !] as transformers' SD 2 tokenizer gives it;
        // "<|ENDOFTEXT|>" is special because that added token is marked normalized.
        XCTAssertEqual(tokenizer.encode("hello!! world!"), [3306, 0, 0, 1002, 0])
        XCTAssertEqual(tokenizer.encode("x<|ENDOFTEXT|>"), [343, 49407])
        XCTAssertEqual(tokenizer.tokenize("a").ids, [49406, 320, 49407] + Array(repeating: 0, count: 74))
    }

    func testErrorsAreOneClearLine() throws {
        let missing = scratch.appendingPathComponent("nope/vocab.json")
        assertThrows(try CLIPTokenizer(vocabURL: missing, mergesURL: missing), contains: "tokenizer file not found: \(missing.path)")
        let badVocab = scratch.appendingPathComponent("vocab.json")
        try Data("[1, 2]".utf8).write(to: badVocab)
        assertThrows(try CLIPTokenizer(vocabURL: badVocab, mergesURL: TokenizerTests.mergesURL), contains: "not a JSON object")
        let badMerges = scratch.appendingPathComponent("merges.txt")
        try Data("#version: 0.2\ni n\nthree parts here\n".utf8).write(to: badMerges)
        assertThrows(try CLIPTokenizer(vocabURL: TokenizerTests.vocabURL, mergesURL: badMerges),
                     contains: "line 3 is not two symbols separated by one space")
        try Data("#version: 0.2\nzz qq\n".utf8).write(to: badMerges)
        assertThrows(try CLIPTokenizer(vocabURL: TokenizerTests.vocabURL, mergesURL: badMerges),
                     contains: "merge 1 ('zz qq') makes a token the vocabulary lacks")
        assertThrows(try CLIPTokenizer.builtin(padTokenId: 60000), contains: "pad token id 60000")
        let folder = try makeFolder("badpad", files: ["special_tokens_map.json": ["pad_token": "<pad>"]])
        assertThrows(try CLIPTokenizer.padTokenId(inTokenizerFolder: folder), contains: "pad token '<pad>'")
    }

    func assertThrows<T>(_ body: @autoclosure () throws -> T, contains text: String, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("no error thrown", line: line)
        } catch {
            let message = "\(error)"
            XCTAssertTrue(message.contains(text), "'\(message)' lacks '\(text)'", line: line)
            XCTAssertFalse(message.contains("\n"), "multi-line error: \(message)", line: line)
        }
    }

    struct UnicodeTables: Decodable {
        var whitespace: [[UInt32]]
        var letter: [[UInt32]]
        var number: [[UInt32]]
        var lowercase: [String: [UInt32]]
    }

    /// Every code point's class and lower-case mapping against the tokenizers regex engine's, probed in Python.
    func testUnicodeClassesMatchTokenizers() throws {
        let url = fixturesRoot.appendingPathComponent("tokenizer/unicode.json")
        let tables = try JSONDecoder().decode(UnicodeTables.self, from: Data(contentsOf: url))
        func set(_ ranges: [[UInt32]]) -> Set<UInt32> { Set(ranges.flatMap { $0[0]...$0[1] }) }
        let (ws, letters, numbers) = (set(tables.whitespace), set(tables.letter), set(tables.number))
        var mismatches: [String] = []
        for v in UInt32(0)..<0x110000 {
            guard let c = Unicode.Scalar(v) else { continue }
            if UnicodeClass.isWhitespace(c) != ws.contains(v) { mismatches.append("\\s U+\(String(v, radix: 16))") }
            if UnicodeClass.isLetter(c) != letters.contains(v) { mismatches.append("L U+\(String(v, radix: 16))") }
            if UnicodeClass.isNumber(c) != numbers.contains(v) { mismatches.append("N U+\(String(v, radix: 16))") }
            var lower: [Unicode.Scalar] = []
            UnicodeClass.appendLowercase(c, to: &lower)
            if lower.map(\.value) != (tables.lowercase[String(v)] ?? [v]) { mismatches.append("lower U+\(String(v, radix: 16))") }
        }
        XCTAssertEqual(mismatches.count, 0, "first: \(mismatches.prefix(20))")
    }
}
