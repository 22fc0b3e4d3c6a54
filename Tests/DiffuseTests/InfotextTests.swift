import XCTest
@testable import Diffuse

final class InfotextTests: XCTestCase {
    func testExactA1111Layout() {
        let info = Infotext(prompt: "a cat", negativePrompt: "blurry", steps: 20, sampler: "Euler a", cfgScale: 7,
                            seed: 1234, width: 512, height: 512, modelHash: "6ce0161689", modelName: "v1-5-pruned-emaonly")
        XCTAssertEqual(info.text, """
        a cat
        Negative prompt: blurry
        Steps: 20, Sampler: Euler a, CFG scale: 7.0, Seed: 1234, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly
        """)
    }

    func testOptionalKeysAndQuoting() {
        let info = Infotext(prompt: "line one\nline two", negativePrompt: "", steps: 30, sampler: "DPM++ 2M Karras",
                            cfgScale: 7.5, seed: 7, width: 768, height: 512, modelName: "my: model, v2",
                            denoisingStrength: 0.75, clipSkip: 2, rng: "CPU")
        // Empty negative prompt: no line. Clip skip only when > 1. Values with ',' or ':' become JSON strings.
        XCTAssertEqual(info.text, """
        line one
        line two
        Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 7, Size: 768x512, Model: "my: model, v2", Denoising strength: 0.75, Clip skip: 2, RNG: CPU
        """)
        let noSkip = Infotext(prompt: "x", negativePrompt: "", steps: 1, sampler: "DDIM", cfgScale: 0, seed: 0,
                              width: 8, height: 8, clipSkip: 1)
        XCTAssertEqual(noSkip.text, "x\nSteps: 1, Sampler: DDIM, CFG scale: 0.0, Seed: 0, Size: 8x8")
        XCTAssertEqual(Infotext.quote("a \"b\", ü\n\u{1}"), #""a \"b\", ü\n\u0001""#)   // json.dumps(ensure_ascii=False)
    }

    func testParseRoundTrip() {
        let info = Infotext(prompt: "a cat, sitting\non a mat", negativePrompt: "ugly\nbad hands", steps: 25,
                            sampler: "Euler a", cfgScale: 6.5, seed: 4_294_967_293, width: 640, height: 384,
                            modelName: "weird \"name\": 1, 2", denoisingStrength: 0.3, clipSkip: 2, rng: "CPU")
        let parsed = Infotext.parse(info.text)
        XCTAssertEqual(parsed, info)
        XCTAssertEqual(parsed.int("Steps"), 25)
        XCTAssertEqual(parsed.double("CFG scale"), 6.5)
        XCTAssertEqual(parsed.size?.width, 640)
        XCTAssertEqual(parsed.size?.height, 384)
    }

    func testParsesOtherWriters() {
        // sd.cpp prints floats with std::to_string; A1111 may write integer-valued CFG as "7".
        let sdcpp = Infotext.parse("a dog\nSteps: 20, CFG scale: 7.000000, Seed: 42, Size: 512x512, Sampler: euler_a")
        XCTAssertEqual(sdcpp.prompt, "a dog")
        XCTAssertEqual(sdcpp.negativePrompt, "")
        XCTAssertEqual(sdcpp.double("CFG scale"), 7)
        XCTAssertEqual(Infotext.parse("x\nSteps: 1, CFG scale: 7, Seed: 1").double("CFG scale"), 7)
        // A last line with fewer than three pairs is prompt text, as in A1111.
        let plain = Infotext.parse("just a prompt: with a colon")
        XCTAssertEqual(plain.prompt, "just a prompt: with a colon")
        XCTAssertTrue(plain.parameters.isEmpty)
    }
}
