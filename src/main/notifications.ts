/** Shows what the notification policy decides; a click opens the window on that tunnel. */
import { Notification } from 'electron';
import type { AppState } from '../shared/app-state';
import {
  emptyMemory,
  notificationPolicy,
  type NotificationIntent,
} from './notifications/notification-policy';

export function setupNotifications(options: {
  initial: AppState;
  onState: (listener: (state: AppState) => void) => () => void;
  enabled: () => boolean;
  onClick: (target: NotificationIntent['target']) => void;
}): () => void {
  let previous = options.initial;
  let memory = emptyMemory;
  const unsubscribe = options.onState((next) => {
    const decided = notificationPolicy({
      previous,
      next,
      now: Date.now(),
      memory,
      enabled: options.enabled(),
    });
    previous = next;
    memory = decided.memory;
    if (!Notification.isSupported()) return;
    for (const intent of decided.intents) {
      const notification = new Notification({ title: intent.title, body: intent.body, silent: false });
      notification.on('click', () => options.onClick(intent.target));
      notification.show();
    }
  });
  return unsubscribe;
}
