import Foundation
import XCTest
@testable import DiffuseTraining

/// Bad configs and a dataset that does not fit the model: one clear line each, naming the key and what to do.
/// (Folder problems — missing, empty, undecodable, orphan captions, sizes, manifest — are DatasetFolder's, see DatasetTests.)
final class TrainInputTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws { folder = try scratchFolder("input") }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func assertError(_ body: @autoclosure () throws -> Any, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(text), "expected “\(text)” in: \(message)", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
        }
    }

    func testImageSizeMustMatchTheModel() throws {
        let data = try shapesDataset(folder.appendingPathComponent("data"), count: 2, size: 16)
        var config = tinyTrainConfig(steps: 1)
        config.model.imageSize = 32
        assertError(try Trainer(config: config, dataset: data), contains: "set model.imageSize to match")
    }

    func testConfigFileProblems() throws {
        let url = folder.appendingPathComponent("config.json")
        func write(_ text: String) throws { try text.write(to: url, atomically: true, encoding: .utf8) }
        try write("{\"steps\": 10, \"model\": {\"channels\": [16, 32], \"attention\": [false, true]}}")
        let ok = try TrainConfig.load(url)
        XCTAssertEqual(ok.steps, 10)
        XCTAssertEqual(ok.model.channels, [16, 32])
        XCTAssertEqual(ok.batchSize, TrainConfig().batchSize, "missing keys keep their defaults")
        try write("{\"stpes\": 10}")
        assertError(try TrainConfig.load(url), contains: "unknown key \"stpes\"")
        try write("[1, 2]")
        assertError(try TrainConfig.load(url), contains: "not a JSON object")
        try write("{\"steps\": \"many\"}")
        assertError(try TrainConfig.load(url), contains: "wrong type")
        assertError(try TrainConfig.load(folder.appendingPathComponent("none.json")), contains: "cannot read the config file")
        var c = TrainConfig()
        c.batchSize = 0
        XCTAssertEqual(c.problem(), "batchSize must be ≥ 1 (got 0)")
        c = TrainConfig()
        c.model.channels = [30, 64, 128]
        XCTAssertNotNil(c.problem())
        c = TrainConfig()
        c.model.attention = [true]
        XCTAssertNotNil(c.problem())
        c = TrainConfig()
        c.captionDropout = 1.5
        XCTAssertNotNil(c.problem())
        XCTAssertNil(TrainConfig().problem(), "the defaults are valid")
    }

    func testTokenizer() {
        let t = WordTokenizer(words: ["a", "circle", "red"], maxTokens: 5)
        XCTAssertEqual(t.encode("A red, CIRCLE!"), [2, 4, 3, 0, 0])
        XCTAssertEqual(t.encode("a red cat"), [2, 4, WordTokenizer.unknown, 0, 0])
        XCTAssertEqual(t.encode(""), [0, 0, 0, 0, 0], "the empty caption is all padding (the unconditional input)")
        XCTAssertEqual(t.unknownWords(in: "a red cat"), ["cat"])
        XCTAssertEqual(t.encode("a a a a a a a").count, 5, "cut to maxTokens")
    }
}
