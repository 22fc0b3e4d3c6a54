import Foundation
import XCTest
@testable import DiffuseModels

// Architectures from the fixture folders' config.json files, decoded with the checkpoint config types.
enum FixtureArchitectures {
    static func config<T: Decodable>(_ type: T.Type, _ model: String, _ part: String) throws -> T {
        let url = NetworkFixtures.folder(model).appendingPathComponent(part).appendingPathComponent("config.json")
        return try JSONDecoder().decode(type, from: Data(contentsOf: url))
    }

    static func unet(_ model: String) throws -> UNetArchitecture {
        try UNetArchitecture(config: config(UNetConfig.self, model, "unet"))
    }

    static func vae(_ model: String) throws -> VAEArchitecture {
        try VAEArchitecture(config: config(VAEConfig.self, model, "vae"))
    }

    static func text(_ model: String) throws -> CLIPTextArchitecture {
        try CLIPTextArchitecture(config: config(CLIPTextConfig.self, model, "text_encoder"))
    }
}
