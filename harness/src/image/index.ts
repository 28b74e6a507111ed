// Images by recipe name: images/<name>/recipe.json says which kind it is.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exists } from '../host/fsutil.ts';
import { buildInitramfs, recipeDir, ImageError, type InitramfsRecipe } from './initramfs.ts';
import { buildRootfs, type RootfsRecipe } from './rootfs.ts';
import type { ImageArtifact } from '../results/records.ts';

export type Recipe = InitramfsRecipe | RootfsRecipe;

export async function loadAnyRecipe(name: string): Promise<Recipe> {
  const file = join(recipeDir(name), 'recipe.json');
  if (!/^[A-Za-z0-9._-]+$/.test(name) || !(await exists(file)))
    throw new ImageError(`image recipe "${name}" not found: expected ${file} (recipes: initramfs, rootfs)`);
  return JSON.parse(await readFile(file, 'utf8')) as Recipe;
}

export async function buildImage(name: string, log: (m: string) => void): Promise<{ image: ImageArtifact; recipe: Recipe }> {
  const recipe = await loadAnyRecipe(name);
  const image = recipe.kind === 'rootfs' ? await buildRootfs(recipe, log) : await buildInitramfs(name, log);
  return { image, recipe };
}
