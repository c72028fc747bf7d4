/**
 * Which image an expose's SSH pod runs, on its own so the CLI can check `--ssh-user` without
 * loading SSH.
 */

/** The image and the non-root account sshd runs as (it can only log in that same account). */
export interface SshImage {
  image: string;
  user: string;
  uid: number;
}

/**
 * linuxserver.io's OpenSSH image: maintained, multi-arch, OpenSSH from Alpine, and with a non-root
 * account (`abc`, uid 911) in the image, so the pod passes `runAsNonRoot`. Localizer runs `sshd`
 * itself as the container command, so none of the image's init scripts run and nothing is
 * fetched at start.
 */
export const defaultSshImage: SshImage = {
  image: 'lscr.io/linuxserver/openssh-server:latest',
  user: 'abc',
  uid: 911,
};
