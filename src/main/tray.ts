/** Applies the tray model (tray/tray-model.ts) to Electron's Tray; nothing here decides anything. */
import { Menu, nativeImage, Tray, type MenuItemConstructorOptions } from 'electron';
import type { AppState, ConnectionState } from '../shared/app-state';
import { trayIconPng } from './tray/tray-icons';
import { trayModel, type TrayAction, type TrayMenuItem } from './tray/tray-model';

function icon(state: ConnectionState): Electron.NativeImage {
  const template = process.platform === 'darwin';
  // 16 pt at 1x and 2x (macOS menu bar), 32 px elsewhere.
  const image = nativeImage.createFromBuffer(trayIconPng(state, { size: template ? 32 : 32, template }), {
    scaleFactor: template ? 2 : 1,
  });
  image.setTemplateImage(template);
  return image;
}

function menuItem(item: TrayMenuItem, run: (action: TrayAction) => void): MenuItemConstructorOptions {
  switch (item.type) {
    case 'separator':
      return { type: 'separator' };
    case 'label':
      return { label: item.label, enabled: false };
    case 'action':
      return { label: item.label, enabled: item.enabled, click: () => run(item.action) };
    case 'radio':
      return {
        type: 'radio',
        label: item.label,
        checked: item.checked,
        enabled: item.enabled,
        click: () => run(item.action),
      };
    case 'submenu':
      return { label: item.label, submenu: item.items.map((child) => menuItem(child, run)) };
  }
}

/** Creates the tray and redraws it on every state; returns a disposer. */
export function setupTray(options: {
  initial: AppState;
  onState: (listener: (state: AppState) => void) => () => void;
  run: (action: TrayAction) => void;
}): () => void {
  const model = trayModel(options.initial);
  const tray = new Tray(icon(model.icon));
  let current = model;
  const apply = (state: AppState): void => {
    const next = trayModel(state);
    if (next.icon !== current.icon) tray.setImage(icon(next.icon));
    tray.setToolTip(next.tooltip);
    tray.setContextMenu(Menu.buildFromTemplate(next.menu.map((item) => menuItem(item, options.run))));
    current = next;
  };
  apply(options.initial);
  tray.on('click', () => options.run(current.click));
  const unsubscribe = options.onState(apply);
  return () => {
    unsubscribe();
    tray.destroy();
  };
}
