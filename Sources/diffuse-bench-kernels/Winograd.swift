import DiffuseCore
import Foundation

/// The stride-1 3×3 convolutions of SD 1.5 at 256 px (UNet: latent 32², batch 2; VAE decoder: batch 1 up to
/// 256²), each timed direct and by Winograd F(4×4, 3×3), f16 weights as the models load them.
/// Labels "unet512": the UNet at 512 px. `--winograd`: prints ms per call for both and their ratio.
func runWinogradBenchmarks() {
    let shapes: [(String, Int, Int, Int, Int)] = [   // label, batch, c → o, side
        ("unet 4→320 @32", 2, 4, 320, 32), ("unet 320→320 @32", 2, 320, 320, 32), ("unet 640→320 @32", 2, 640, 320, 32),
        ("unet 960→320 @32", 2, 960, 320, 32), ("unet 320→4 @32", 2, 320, 4, 32),
        ("unet 320→640 @16", 2, 320, 640, 16), ("unet 640→640 @16", 2, 640, 640, 16),
        ("unet 1280→640 @16", 2, 1280, 640, 16), ("unet 960→640 @16", 2, 960, 640, 16),
        ("unet 1920→640 @16", 2, 1920, 640, 16), ("unet 1280→1280 @16", 2, 1280, 1280, 16),
        ("unet 640→1280 @8", 2, 640, 1280, 8), ("unet 1280→1280 @8", 2, 1280, 1280, 8),
        ("unet 2560→1280 @8", 2, 2560, 1280, 8), ("unet 1920→1280 @8", 2, 1920, 1280, 8),
        ("unet 1280→1280 @4", 2, 1280, 1280, 4), ("unet 2560→1280 @4", 2, 2560, 1280, 4),
        // 512 px (latent 64²): the same UNet layers one level larger.
        ("unet512 320→320 @64", 2, 320, 320, 64), ("unet512 640→640 @32", 2, 640, 640, 32),
        ("unet512 1280→1280 @16", 2, 1280, 1280, 16), ("unet512 1280→1280 @8", 2, 1280, 1280, 8),
        ("unet512 2560→1280 @8", 2, 2560, 1280, 8),
        ("vae 4→512 @32", 1, 4, 512, 32), ("vae 512→512 @32", 1, 512, 512, 32), ("vae 512→512 @64", 1, 512, 512, 64),
        ("vae 512→512 @128", 1, 512, 512, 128), ("vae 512→256 @128", 1, 512, 256, 128),
        ("vae 256→256 @128", 1, 256, 256, 128), ("vae 256→256 @256", 1, 256, 256, 256),
        ("vae 256→128 @256", 1, 256, 128, 256), ("vae 128→128 @256", 1, 128, 128, 256), ("vae 128→3 @256", 1, 128, 3, 256),
    ]
    print("3×3 stride-1 convolutions, ms per call (best of \(reps)): direct | Winograd F(4×4,3×3) | ratio")
    for (label, n, c, o, side) in shapes where selected(label) {
        let x = Tensor(shape: [n, c, side, side], data: values(n * c * side * side, seed: 5))
        let wf = values(o * c * 9, seed: 6).map { $0 / Float(3 * c) }
        let w = Weight(shape: [o, c, 3, 3], dtype: .f16, bytes: wf.flatMap { v -> [UInt8] in
            let h = floatToHalf(v); return [UInt8(h & 0xff), UInt8(h >> 8)] })
        let b = Weight(Tensor(shape: [o], data: values(o, seed: 7)))
        let td = bestTime { _ = _conv2d(x, w, b, padding: 1, winograd: false) }
        let tw = bestTime { _ = _conv2d(x, w, b, padding: 1, winograd: true) }
        print(String(format: "%@ %9.2f | %9.2f | %.2f", label.padding(toLength: 22, withPad: " ", startingAt: 0),
                     td * 1e3, tw * 1e3, tw / td))
        fflush(stdout)
    }
}
