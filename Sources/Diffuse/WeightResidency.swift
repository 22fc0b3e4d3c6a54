import DiffuseCore
import Foundation

/// Which network's memory-mapped weights the pipeline keeps resident (with `Weight.releaseAfterUse`, the
/// default). Before a network runs, the pages of the network that ran before it are dropped (they stay in
/// the page cache), so at most one network's weights count towards the peak, as MemoryEstimate assumes.
/// The network in use keeps its pages between calls: the UNet no longer maps its 1.7 GB (SD 1.5, fp16)
/// back in on every denoising step, which cost 3–5% of a 256-px step in page faults (BENCHMARKS.md, stop 15).
/// Before stop 15 every network dropped its pages at the end of each call.
final class WeightResidency: @unchecked Sendable {
    enum Network { case text, unet, vae }
    private let lock = NSLock()
    private var current: Network?

    /// Makes `next` the resident network; returns the one whose pages are to be dropped, if any.
    func switchTo(_ next: Network?) -> Network? {
        lock.lock(); defer { lock.unlock() }
        let previous = current
        current = next
        return previous == next ? nil : previous
    }
}

extension StableDiffusionPipeline {
    /// Drops the pages of the network that ran last unless it is `network`; call before running `network`.
    func makeResident(_ network: WeightResidency.Network?) {
        guard Weight.releaseAfterUse, let old = residency.switchTo(network) else { return }
        switch old {
        case .text: textEncoder.releaseWeightPages()
        case .unet: unet.releaseWeightPages()
        case .vae: vae.releaseWeightPages()
        }
    }

    /// Drops whatever is resident: no network's weights stay resident between requests (the file stays mapped).
    public func releaseWeightPages() { makeResident(nil) }
}
