// Mocha root hooks (loaded through .mocharc.json): what the whole run shares is torn down once,
// after the last test: podid's processes on the shared real cluster, then the cluster.
import { stopSharedPodid } from "./helpers/podid-real.ts";
import { stopSharedRealCluster } from "./helpers/real-cluster.ts";

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await stopSharedPodid();
    await stopSharedRealCluster();
  },
};
